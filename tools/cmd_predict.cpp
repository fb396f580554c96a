// `mn predict RUN IMAGE... [--budget-mflops X | --budget-ms Y | --width W --resolution R]`:
// classifies images with one sub-network of a run: the most accurate point of the run's query
// table (sweep.json) within a FLOPs or latency budget, or the point given. Its BN statistics are
// recalibrated first (an exported model, mn export, already stores them); the images are decoded
// and resized as evaluation does. Prints the top-5 classes and their probabilities per image.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "io/files.h"
#include "mutualnet/bn_calibration.h"
#include "mutualnet/evaluate.h"
#include "mutualnet/experiment.h"
#include "mutualnet/flops.h"
#include "tools/commands.h"

namespace mn::cli {

const Spec kPredictSpec{
    "predict",
    "Classifies images with the sub-network of a run that fits a budget: top-5 classes and probabilities.",
    {positional("RUN", "a trained run's folder (or an exported model's, mn export)"),
     positionals("IMAGE", "image files (jpg, png, ...) or folders of them"),
     option("--budget-mflops", "X", "the most accurate swept point within X MFLOPs (the query table of mn sweep RUN)"),
     option("--budget-ms", "Y", "the most accurate swept point within Y ms of measured latency (mn sweep RUN --latency)"),
     option("--width", "W", "this width instead of a budget (with --resolution; default: the run's widest swept point)"),
     option("--resolution", "R", "this resolution instead of a budget (with --width)"),
     option("--checkpoint", "last|best", "which checkpoint of the run", "last"),
     repeated("--set", "key=value", "overrides a config key that does not change the model, e.g. --set device=cpu")}};

namespace {

// The swept points of a run, for a budget.
std::vector<SweepPoint> sweep_of(const std::string& run_dir) {
  const std::string path = run_dir + "/sweep.json";
  MN_CHECK(path_exists(path), "a budget needs the run's query table, and ", path, " does not exist (mn sweep ",
           run_dir, " makes it)");
  return parse_sweep_json(read_file(path), path);
}

}  // namespace

int cmd_predict(int argc, char** argv) {
  const Args args(kPredictSpec, argc, argv);
  const std::string run_dir = args.get("RUN"), checkpoint = args.get("--checkpoint");
  const bool by_flops = args.has("--budget-mflops"), by_ms = args.has("--budget-ms"), by_point = args.has("--width");
  if (by_flops + by_ms + by_point > 1) args.fail("give one of --budget-mflops, --budget-ms or --width/--resolution");
  if (args.has("--width") != args.has("--resolution")) args.fail("--width and --resolution go together");
  const Config c = load_run_config(run_dir, args.all("--set"));

  // The point: from the query table for a budget, as given, or the run's widest swept point.
  Subnet point{*std::max_element(c.sweep.widths.begin(), c.sweep.widths.end()),
               c.sweep.resolutions.empty() ? c.data.resolutions[0] : c.sweep.resolutions[0]};
  std::string why = "the run's widest swept point";
  if (by_flops || by_ms) {
    const std::vector<SweepPoint> sweep = sweep_of(run_dir);
    const double budget = args.number(by_flops ? "--budget-mflops" : "--budget-ms");
    const SweepPoint& p = sweep[best_within(sweep, by_flops ? Cost::mflops : Cost::latency, budget)];
    point = {p.width, p.resolution};
    char measured[64] = "";
    if (by_ms) std::snprintf(measured, sizeof measured, ", %.3f ms", p.latency_ms);
    why = cat("the most accurate swept point within ", budget, by_flops ? " MFLOPs: " : " ms: ", p.top1, "% top-1", measured);
  } else if (by_point) {
    point = {parse_widths(args.get("--width")).at(0), parse_resolutions(args.get("--resolution")).at(0)};
    why = "as given";
  }
  check_point(c, point.width, point.resolution);
  const std::vector<std::string> files = data::image_files(args.all("IMAGE"));

  const bool calibrate = c.train.bn_calib_batches > 0;
  Experiment ex(c, {.eval_resolutions = calibrate ? carried_resolutions(c, {point.resolution}) : std::vector<int64_t>{}});
  ex.load_weights(run_dir, checkpoint);
  if (calibrate)
    ex.recalibrate(point.width, point.resolution);
  ex.model.net->eval();
  const SubnetCost cost = subnet_cost(ex.model, point.width, point.resolution);
  std::printf("%s %s-%lld (%.2f MFLOPs; %s), BN %s\n", ex.model.spec.name().c_str(), width_label(point.width).c_str(),
              static_cast<long long>(point.resolution), cost.mflops(), why.c_str(),
              calibrate ? cat("recalibrated on ", c.train.bn_calib_batches, " training batches").c_str() : "as stored");

  const std::vector<std::string> names = class_names(c);
  std::unique_ptr<data::Loader> loader =
      image_loader(c, data::load_image_files(files, static_cast<int>(c.model.in_channels)), {point.resolution});
  WidthScope width(*ex.model.width, point.width);
  NoGradGuard no_grad;
  loader->start_epoch(0);
  while (std::optional<data::Batch> batch = loader->next()) {
    const Tensor images = batch->at_resolution(static_cast<int>(point.resolution)).to(ex.device);
    const Tensor logits = ex.model(Variable(images)).data().to(Device::cpu()).contiguous();
    const int64_t k = logits.size(1);
    const std::vector<float> z = logits.to_vector<float>();
    for (int64_t i = 0; i < logits.size(0); ++i) {
      // Softmax in double, from the largest logit.
      const float* row = z.data() + i * k;
      const double top = *std::max_element(row, row + k);
      std::vector<double> prob(static_cast<size_t>(k));
      double sum = 0;
      for (int64_t j = 0; j < k; ++j) sum += prob[size_t(j)] = std::exp(double(row[j]) - top);
      std::vector<int64_t> order(static_cast<size_t>(k));
      std::iota(order.begin(), order.end(), 0);
      const int64_t shown = std::min<int64_t>(5, k);
      std::partial_sort(order.begin(), order.begin() + shown, order.end(),
                        [&](int64_t a, int64_t b) { return prob[size_t(a)] > prob[size_t(b)]; });
      std::printf("%s\n", files[size_t(batch->indices[size_t(i)])].c_str());
      for (int64_t j = 0; j < shown; ++j) {
        const int64_t label = order[size_t(j)];
        const std::string name = label < int64_t(names.size()) ? names[size_t(label)] : cat("class ", label);
        std::printf("  %6.2f%%  %s\n", 100.0 * prob[size_t(label)] / sum, name.c_str());
      }
    }
  }
  return 0;
}

}  // namespace mn::cli
