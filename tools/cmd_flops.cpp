// `mn flops`: multiply-adds (the papers' "MFLOPs") and active parameters of every
// (width, resolution) sub-network of a model, counted by walking the model's layers with shapes.
//
//   mn flops --model mobilenet_v1 --widths 1.0,0.75,0.5 --resolutions 224,192 --format csv
//   mn flops --model wrn-28-10 --classes 100
//
// Widths are a list or lo:hi:step; both default to the model's reference recipe.
#include <iostream>
#include <string>
#include <vector>

#include "mutualnet/config.h"
#include "mutualnet/evaluate.h"
#include "mutualnet/experiment.h"
#include "mutualnet/flops.h"
#include "tools/commands.h"

namespace mn::cli {

const Spec kFlopsSpec{
    "flops",
    "MFLOPs (multiply-adds) and parameters of every sub-network of a model, without training.",
    {optional_positional("CONFIG", "a training config: its model, width range and resolutions (the options override)"),
     option("--model", "NAME", "a model instead of a config: wrn-DEPTH-WIDEN, mobilenet_v1, mobilenet_v2, resnet50"),
     option("--widths", "LIST|lo:hi:step", "the widths (default: the config's or the recipe's range, step 0.05)"),
     option("--resolutions", "LIST", "the resolutions (default: the config's or the recipe's)"),
     option("--classes", "N", "output classes (default: the config's or the model's)"),
     option("--in-channels", "C", "input channels (default: the config's or the model's)"),
     option("--divisor", "D", "channel counts are multiples of D (default: the config's or the model's)"),
     option("--format", "table|csv|json", "the output format", "table")}};

int cmd_flops(int argc, char** argv) {
  const Args args(kFlopsSpec, argc, argv);
  const std::string config = args.get("CONFIG"), model = args.get("--model");
  if (config.empty() == model.empty()) args.fail("give either CONFIG or --model NAME");

  // A config gives the model and its MutualNet grid: the width range in steps of 0.05 and its
  // resolutions; a model name, its reference recipe's.
  models::ModelSpec spec;
  std::vector<double> widths;
  std::vector<int64_t> resolutions;
  if (!config.empty()) {
    const Config c = load_config(config);
    spec = model_spec(c);
    widths = parse_widths(cat(c.mutualnet.width_max, ":", c.mutualnet.width_min, ":0.05"));
    resolutions = c.data.resolutions;
  } else {
    spec = models::parse_model_name(model);
    auto [lo, hi] = models::recipe_width_range(spec);
    widths = parse_widths(cat(hi, ":", lo, ":0.05"));
    resolutions = models::recipe_resolutions(spec);
  }
  auto positive = [&](const char* name) {
    const int64_t v = args.integer(name);
    if (v <= 0) args.fail(cat(name, " must be positive, got ", v));
    return v;
  };
  if (args.has("--classes")) spec.classes = positive("--classes");
  if (args.has("--in-channels")) spec.in_channels = positive("--in-channels");
  if (args.has("--divisor")) spec.divisor = positive("--divisor");
  if (args.has("--widths")) widths = parse_widths(args.get("--widths"));
  if (args.has("--resolutions")) resolutions = parse_resolutions(args.get("--resolutions"));

  write_costs(std::cout, spec.name(), subnet_costs(spec, widths, resolutions), parse_cost_format(args.get("--format")));
  return 0;
}

}  // namespace mn::cli
