// `mn eval RUN --width W --resolution R`: one sub-network of a trained run, with its BN
// statistics recalibrated: top-1/top-5 on the test set, MFLOPs and parameters.
#include <cstdio>
#include <string>
#include <vector>

#include "mutualnet/evaluate.h"
#include "mutualnet/experiment.h"
#include "mutualnet/flops.h"
#include "tensor/error.h"
#include "tools/commands.h"

namespace mn::cli {

const Spec kEvalSpec{
    "eval",
    "Top-1, top-5, MFLOPs and parameters of one sub-network of a run, its BN recalibrated.",
    {positional("RUN", "a trained run's folder, e.g. runs/fashion_mnist"),
     required_option("--width", "W", "the sub-network's width, e.g. 0.5"),
     required_option("--resolution", "R", "its input resolution, at most the run's largest, e.g. 20"),
     option("--checkpoint", "last|best", "which checkpoint of the run", "last"),
     repeated("--set", "key=value", "overrides a config key that does not change the model, e.g. --set device=cpu")}};

int cmd_eval(int argc, char** argv) {
  const Args args(kEvalSpec, argc, argv);
  const std::string run_dir = args.get("RUN"), checkpoint = args.get("--checkpoint");
  const std::vector<std::string> overrides = args.all("--set");
  const double width = parse_widths(args.get("--width")).at(0);
  const int64_t resolution = parse_resolutions(args.get("--resolution")).at(0);
  const Config c = load_run_config(run_dir, overrides);
  check_point(c, width, resolution);
  Experiment ex(c, {.eval_resolutions = carried_resolutions(c, {resolution})});
  ex.load_weights(run_dir, checkpoint);
  const EvalResult r = ex.evaluate({{width, resolution}}).at(0);
  const SubnetCost cost = subnet_cost(ex.model, width, resolution);
  std::printf("%s %s-%lld (%s checkpoint): top-1 %.2f%%  top-5 %.2f%%  loss %.4f  %.2f MFLOPs  %.3f M params\n",
              ex.model.spec.name().c_str(), width_label(width).c_str(), static_cast<long long>(resolution),
              checkpoint.c_str(), r.top1, r.top5, r.loss, cost.mflops(), double(cost.params) / 1e6);
  const std::string bn = c.train.bn_calib_batches > 0 ? cat("BN recalibrated on ", c.train.bn_calib_batches, " training batches")
                                                      : std::string("BN statistics as stored");
  std::printf("(%lld test images of %s; %s)\n", static_cast<long long>(r.images), ex.test_set->describe().c_str(),
              bn.c_str());
  return 0;
}

}  // namespace mn::cli
