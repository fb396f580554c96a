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

int cmd_eval(int argc, char** argv) {
  const char* usage = "usage: mn eval RUN --width W --resolution R [--checkpoint last|best] [--set key=value]...";
  std::string run_dir, checkpoint = "last";
  std::vector<std::string> overrides;
  double width = -1;
  int64_t resolution = -1;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* flag) -> std::string {
      MN_CHECK(i + 1 < argc, flag, " needs a value (", usage, ")");
      return argv[++i];
    };
    if (a == "--width") width = parse_widths(value("--width")).at(0);
    else if (a == "--resolution") resolution = parse_resolutions(value("--resolution")).at(0);
    else if (a == "--checkpoint") checkpoint = value("--checkpoint");
    else if (a == "--set") overrides.push_back(value("--set"));
    else if (a.rfind("--", 0) == 0) fail("unknown option '", a, "' (", usage, ")");
    else if (run_dir.empty()) run_dir = a;
    else fail("unexpected argument '", a, "' (", usage, ")");
  }
  MN_CHECK(!run_dir.empty() && width > 0 && resolution > 0, usage);
  const Config c = load_run_config(run_dir, overrides);
  const int64_t r0 = c.data.resolutions[0];
  MN_CHECK(resolution <= r0, "--resolution ", resolution, " is larger than the run's largest resolution ", r0,
           " (evaluation downscales from R0)");
  const std::vector<int64_t> resolutions = resolution == r0 ? std::vector<int64_t>{r0} : std::vector<int64_t>{r0, resolution};
  Experiment ex(c, {.eval_resolutions = resolutions});
  ex.load_weights(run_dir, checkpoint);
  const EvalResult r = ex.evaluate({{width, resolution}}).at(0);
  const SubnetCost cost = subnet_cost(ex.model, width, resolution);
  std::printf("%s %s-%lld (%s checkpoint): top-1 %.2f%%  top-5 %.2f%%  loss %.4f  %.2f MFLOPs  %.3f M params\n",
              ex.model.spec.name().c_str(), width_label(width).c_str(), static_cast<long long>(resolution),
              checkpoint.c_str(), r.top1, r.top5, r.loss, cost.mflops(), double(cost.params) / 1e6);
  std::printf("(%lld test images of %s; BN recalibrated on %lld training batches)\n",
              static_cast<long long>(r.images), ex.test_set->describe().c_str(),
              static_cast<long long>(c.train.bn_calib_batches));
  return 0;
}

}  // namespace mn::cli
