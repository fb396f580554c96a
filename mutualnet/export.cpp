// Sub-network export: slicing, the exported config, and the three files.
#include "mutualnet/export.h"

#include <algorithm>
#include <map>

#include "io/files.h"
#include "io/onnx.h"
#include "io/safetensors.h"
#include "mutualnet/bn_calibration.h"
#include "mutualnet/experiment.h"
#include "mutualnet/sweep_report.h"
#include "nn/graph.h"

namespace mn {

namespace {

template <class T>
std::string join(const std::vector<T>& v) {
  std::string out;
  for (const T& x : v) {
    if (!out.empty()) out += ",";
    out += cat(x);
  }
  return out;
}

}  // namespace

Config exported_config(const Config& c, double width, int64_t resolution) {
  Config e = c;
  e.name = cat(c.name, "-", width_label(width), "-", resolution);
  e.model.base_width = c.model.base_width * width;
  e.mutualnet.width_max = 1.0;
  e.mutualnet.width_min = std::clamp(c.mutualnet.width_min / width, 0.01, 1.0);
  e.train.bn_calib_batches = 0;
  e.sweep.widths = {1.0};
  e.sweep.resolutions = {resolution};
  return e;
}

models::Model slice_model(const models::Model& from, const models::ModelSpec& spec) {
  models::Model to = models::make_model(spec);
  std::map<std::string, Tensor> source;
  for (const auto& [name, t] : from.net->state_dict()) source.emplace(name, t);
  for (const auto& [name, t] : to.net->state_dict()) {
    auto it = source.find(name);
    MN_CHECK(it != source.end(), "export: the source model has no tensor ", name);
    Tensor s = it->second.to(Device::cpu());
    MN_CHECK(s.dim() == t.dim(), "export: ", name, " has ", s.dim(), " dims in the source, ", t.dim(), " exported");
    for (int d = 0; d < t.dim(); ++d) {
      MN_CHECK(t.size(d) <= s.size(d), "export: ", name, " is ", shape_str(t.shape()), ", larger than the source's ",
               shape_str(s.shape()));
      s = s.slice(d, 0, t.size(d));
    }
    t.copy_(s);
  }
  return to;
}

ExportSummary export_subnet(const std::string& run_dir, const std::string& checkpoint, double width,
                            int64_t resolution, const std::string& out_dir, bool fold_bn,
                            const std::vector<std::string>& overrides) {
  const Config c = load_run_config(run_dir, overrides);
  check_point(c, width, resolution);
  Experiment ex(c, {.eval_resolutions = carried_resolutions(c, {resolution})});
  ex.load_weights(run_dir, checkpoint);
  if (c.train.bn_calib_batches > 0)
    ex.recalibrate(width, resolution);

  const Config e = exported_config(c, width, resolution);
  models::Model sub = slice_model(ex.model, model_spec(e));
  make_dirs(out_dir);
  ExportSummary summary{out_dir};
  for (const auto& [name, t] : sub.net->state_dict()) summary.params += t.numel();
  for (const auto& [name, t] : ex.model.net->state_dict()) summary.full_params += t.numel();

  const std::string point = cat(width_label(width), "-", resolution);
  save_safetensors(out_dir + "/model.safetensors", sub.net->state_dict(),
                   {{"source", run_dir + " (" + checkpoint + ")"}, {"point", point}});
  write_file_atomic(out_dir + "/config.toml", config_to_toml(e));

  nn::Graph graph = nn::record_graph(*sub.net, {1, c.model.in_channels, resolution, resolution});
  if (fold_bn) summary.folded_bns = nn::fold_batch_norms(graph);
  write_onnx(out_dir + "/model.onnx", graph,
             {{"model", ex.model.spec.name()},
              {"width", width_label(width)},
              {"resolution", cat(resolution)},
              {"source", run_dir + " (" + checkpoint + ")"},
              {"input", cat("float32 NCHW (N, ", c.model.in_channels, ", ", resolution, ", ", resolution,
                            "): RGB or gray pixels / 255, then (x - mean) / std per channel")},
              {"mean", join(c.data.mean)},
              {"std", join(c.data.std)},
              {"labels", join(class_names(c))}});
  return summary;
}

}  // namespace mn
