// BN recalibration makes each running statistic the plain average over the calibration batches;
// evaluating several points in one pass gives each point the result it gets alone; grid parsing.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/functions.h"
#include "mutualnet/bn_calibration.h"
#include "mutualnet/evaluate.h"
#include "mutualnet/experiment.h"
#include "nn/conv2d.h"
#include "tensor/ops.h"
#include "tests/common/test_util.h"

using namespace mn;

namespace {

Config tiny() {
  return parse_config("device = \"cpu\"\n[model]\ndepth = 10\nwiden = 1\n[data]\nworkers = 1\n", "tiny.toml",
                      {"data.train_limit=96", "data.test_limit=100", "train.batch_size=32",
                       "train.eval_batch_size=40"});
}

template <class M>
M* find_module(models::Model& m, const std::string& name) {
  for (auto& [n, mod] : m.net->named_modules())
    if (n == name) return dynamic_cast<M*>(mod);
  return nullptr;
}

}  // namespace

TEST_CASE("bn calibration: running statistics become the average over the calibration batches") {
  Experiment ex(tiny(), {.eval_resolutions = {28, 20}});
  models::Model& model = ex.model;
  data::Loader* calib = ex.calib_loader.get();
  const double width = 0.5;
  const int64_t r = 20, batches = 3;
  recalibrate_bn(model, width, r, *calib, batches, Device::cpu());
  CHECK_FALSE(model.net->is_training());
  CHECK(model.width->get() == 1.0);  // the width is put back

  // The first BN of the WRN (blocks.0.bn1) sees the stem conv's output: recompute its per-batch
  // mean and unbiased variance for the same batches and average them.
  auto* stem = find_module<nn::Conv2d>(model, "conv1");
  auto* bn = find_module<nn::BatchNorm2d>(model, "blocks.0.bn1");
  REQUIRE(stem);
  REQUIRE(bn);
  WidthScope scope(*model.width, width);
  NoGradGuard no_grad;
  calib->start_epoch(0);
  std::vector<double> mean_avg, var_avg;
  int64_t channels = 0;
  for (int64_t k = 0; k < batches; ++k) {
    std::optional<data::Batch> b = calib->next();
    REQUIRE(b);
    Tensor y = (*stem)(Variable(b->at_resolution(r))).data();  // (N, C, r, r)
    channels = y.size(1);
    if (mean_avg.empty()) mean_avg.assign(channels, 0), var_avg.assign(channels, 0);
    std::vector<float> v = y.contiguous().to_vector<float>();
    const int64_t n = y.size(0), hw = y.size(2) * y.size(3);
    for (int64_t ch = 0; ch < channels; ++ch) {
      double s = 0, sq = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < hw; ++j) {
          double x = v[(i * channels + ch) * hw + j];
          s += x, sq += x * x;
        }
      const double m = double(n * hw), mean = s / m;
      mean_avg[ch] += mean / batches;
      var_avg[ch] += (sq - m * mean * mean) / (m - 1) / batches;
    }
  }
  REQUIRE(channels < bn->running_mean.size(0));  // a true slice: the rest stays at its reset value
  std::vector<float> rm = bn->running_mean.to_vector<float>(), rv = bn->running_var.to_vector<float>();
  for (int64_t ch = 0; ch < channels; ++ch) {
    CHECK(rm[ch] == doctest::Approx(mean_avg[ch]).epsilon(1e-4).scale(1e-3));
    CHECK(rv[ch] == doctest::Approx(var_avg[ch]).epsilon(1e-3));
  }
  CHECK(rm[channels] == 0);
  CHECK(rv[channels] == 1);
}

TEST_CASE("evaluate: points evaluated together score as they do alone; saved BN stats restore") {
  Experiment ex(tiny(), {.eval_resolutions = {28, 16}});
  models::Model& model = ex.model;
  data::Loader *calib = ex.calib_loader.get(), *test = ex.test_loader.get();
  const std::vector<Subnet> points{{1.0, 28}, {0.25, 16}, {0.5, 28}};
  std::vector<EvalResult> together = evaluate_points(model, points, *calib, *test, 2, Device::cpu());
  REQUIRE(together.size() == 3);
  for (size_t i = 0; i < points.size(); ++i) {
    CAPTURE(i);
    std::vector<EvalResult> alone = evaluate_points(model, {points[i]}, *calib, *test, 2, Device::cpu());
    CHECK(alone[0].images == 100);
    CHECK(alone[0].top1 == together[i].top1);
    CHECK(alone[0].top5 == together[i].top5);
    CHECK(alone[0].loss == doctest::Approx(together[i].loss).epsilon(1e-9));
    CHECK(together[i].top5 >= together[i].top1);
  }
  // An untrained network: cross-entropy near ln 10.
  CHECK(together[0].loss == doctest::Approx(std::log(10.0)).epsilon(0.3));

  BnStats s = save_bn_stats(model);
  for (nn::BatchNorm2d* bn : batch_norms(model)) bn->reset_running_stats();
  load_bn_stats(model, s);
  BnStats back = save_bn_stats(model);
  for (size_t i = 0; i < s.size(); ++i) CHECK(back[i].to_vector<float>() == s[i].to_vector<float>());
}

TEST_CASE("sweep grid: widths and resolutions from the command line") {
  std::vector<double> w = parse_widths("0.25:1.0:0.05");
  REQUIRE(w.size() == 16);
  CHECK(w.front() == 1.0);
  CHECK(w[1] == 0.95);
  CHECK(w.back() == 0.25);
  CHECK(parse_widths("1.0:0.9:0.025") == std::vector<double>{1.0, 0.975, 0.95, 0.925, 0.9});
  CHECK(parse_widths("0.5,1,0.25") == std::vector<double>{1.0, 0.5, 0.25});
  CHECK(parse_resolutions("16,28,24,24") == std::vector<int64_t>{28, 24, 16});
  CHECK(test::error_of([] { parse_widths("0.25:1.0"); }) ==
        "--widths: expected start:stop:step, got '0.25:1.0'");
  CHECK(test::error_of([] { parse_widths("1.5"); }) == "--widths: width 1.5 is outside (0, 1]");
  CHECK(test::error_of([] { parse_resolutions("28,x"); }) ==
        "--resolutions: 'x' is not a positive integer (expected e.g. 28,24,20,16)");
}
