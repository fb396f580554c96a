// `mn export RUN --width W --resolution R --out DIR`: one sub-network of a trained run as a
// standalone, smaller model (mutualnet/export.h): DIR is a run directory for mn eval / mn predict
// (width 1.0 = the exported sub-network) and holds model.onnx for other runtimes.
#include <cstdio>
#include <string>

#include "io/onnx.h"
#include "mutualnet/evaluate.h"
#include "mutualnet/export.h"
#include "mutualnet/sweep_report.h"
#include "tools/commands.h"

namespace mn::cli {

const Spec kExportSpec{
    "export",
    "Writes one sub-network of a run as a standalone model: model.safetensors + config.toml, and model.onnx.",
    {positional("RUN", "a trained run's folder, e.g. runs/fashion_mnist"),
     required_option("--width", "W", "the sub-network's width, inside the run's trained range, e.g. 0.5"),
     required_option("--resolution", "R", "its input resolution, at most the run's largest, e.g. 20"),
     required_option("--out", "DIR", "the folder to write (created; mn eval DIR --width 1.0 --resolution R reads it)"),
     option("--checkpoint", "last|best", "which checkpoint of the run", "last"),
     flag("--fold-bn", "fold batch norm into the preceding convolutions in model.onnx (model.safetensors keeps it)"),
     repeated("--set", "key=value", "overrides a config key that does not change the model, e.g. --set device=cpu")}};

int cmd_export(int argc, char** argv) {
  const Args args(kExportSpec, argc, argv);
  const double width = parse_widths(args.get("--width")).at(0);
  const int64_t resolution = parse_resolutions(args.get("--resolution")).at(0);
  const std::string run_dir = args.get("RUN"), out = args.get("--out"), checkpoint = args.get("--checkpoint");
  const ExportSummary s =
      export_subnet(run_dir, checkpoint, width, resolution, out, args.has("--fold-bn"), args.all("--set"));
  std::printf("exported %s-%lld of %s (%s checkpoint, BN recalibrated at that point) to %s/\n",
              width_label(width).c_str(), static_cast<long long>(resolution), run_dir.c_str(), checkpoint.c_str(),
              out.c_str());
  std::printf("  %.3f M parameters and buffers of the source's %.3f M (%.1f%%)%s\n", double(s.params) / 1e6,
              double(s.full_params) / 1e6, 100.0 * double(s.params) / double(s.full_params),
              args.has("--fold-bn") ? cat("; ", s.folded_bns, " BN layers folded into convolutions in model.onnx").c_str() : "");
  std::printf("  model.safetensors + config.toml: mn eval %s --width 1.0 --resolution %lld\n", out.c_str(),
              static_cast<long long>(resolution));
  std::printf("  model.onnx: opset %d, input \"input\" (N, C, %lld, %lld) normalized as its metadata says, output \"logits\"\n",
              kOnnxOpset, static_cast<long long>(resolution), static_cast<long long>(resolution));
  return 0;
}

}  // namespace mn::cli
