// The model zoo: parameter names and shapes as the public code (and the PyTorch reference) name
// them, outputs equal to the PyTorch reference WRN with the same weights at two widths, and every
// model training a step (forward, backward, SGD) at its min and max width and its resolutions.
// ImageNet models execute at small resolutions (32, 64) to stay cheap on a CPU; at the recipe's
// 224..128 they are checked by the shape walk, which follows the same layer code.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "autograd/functions.h"
#include "mutualnet/flops.h"
#include "mutualnet/models/zoo.h"
#include "nn/optim.h"
#include "tests/common/test_util.h"

using namespace mn;
using models::Model;
using models::ModelSpec;

namespace {

std::map<std::string, Shape> shapes(const Model& m) {
  std::map<std::string, Shape> out;
  for (auto& [name, t] : m.net->state_dict()) out[name] = t.shape();
  return out;
}

ModelSpec fashion_wrn(int depth, int widen) {
  ModelSpec spec = models::parse_model_name(cat("wrn-", depth, "-", widen));
  spec.in_channels = 1;
  spec.classes = 10;
  spec.divisor = 4;
  return spec;
}

// The deterministic weights of tests/mutualnet/wrn_reference.py.
void set_reference_weights(Model& m) {
  int t = 0;
  for (auto& [name, v] : m.net->state_dict()) {
    std::vector<float> values(v.numel());
    for (size_t i = 0; i < values.size(); ++i) {
      double s = std::sin(0.7 * double(i) + 1.3 * t);
      if (name.find("running_mean") != std::string::npos)
        s = 0;
      else if (name.find("running_var") != std::string::npos)
        s = 1;
      else if (v.dim() >= 2)
        s /= std::sqrt(double(v.numel() / v.size(0)));
      else if (name.rfind("fc", 0) == 0 || name.ends_with("bias"))
        s *= 0.1;
      else
        s = 1 + 0.1 * s;
      values[i] = float(s);
    }
    v.copy_(Tensor::from_vector(values, v.shape()));
    ++t;
  }
}

double sum_of_squares(const Tensor& t) {
  double s = 0;
  for (float v : t.contiguous().to_vector<float>()) s += double(v) * v;
  return s;
}

// One MutualNet-style step at (width, resolution): forward, cross-entropy, backward, SGD.
void train_step(Model& m, double width, int64_t resolution, uint64_t seed) {
  INFO(m.spec.name(), " at width ", width, ", resolution ", resolution);
  m.width->set(width);
  m.net->train();
  Tensor x = test::normal_tensor({2, m.spec.in_channels, resolution, resolution}, seed);
  Tensor labels = Tensor::from_vector<int64_t>({1, int64_t(m.spec.classes - 1)}, {2});
  nn::Sgd opt(nn::weight_decay_groups(*m.net, 1e-4, nn::DecayRule::all),
              {.lr = 0.01, .momentum = 0.9, .nesterov = true});
  Variable logits = (m)(Variable(x));
  REQUIRE(logits.shape() == Shape{2, m.spec.classes});
  Variable loss = cross_entropy(logits, labels);
  CHECK(std::isfinite(loss.data().item()));
  loss.backward();
  // At the largest width every parameter takes part.
  if (width == m.width->max())
    for (auto& named : m.net->named_parameters()) {
      INFO(named.first);  // not a structured binding: clang 14 cannot capture one in INFO's lambda
      CHECK(named.second.grad().defined());
    }
  opt.step();
  m.net->zero_grad();
}

}  // namespace

TEST_CASE("WRN parameter names and shapes equal the PyTorch reference's state dict") {
  Model m = models::make_model(fashion_wrn(16, 2));
  auto sd = m.net->state_dict();
  // ref_mutualnet.py WRN(16, 2, 1, 10).state_dict() without num_batches_tracked: 70 entries.
  REQUIRE(sd.size() == 70);
  const char* head[] = {"conv1.weight",          "blocks.0.bn1.weight",      "blocks.0.bn1.bias",
                        "blocks.0.bn1.running_mean", "blocks.0.bn1.running_var",
                        "blocks.0.conv1.weight", "blocks.0.bn2.weight",      "blocks.0.bn2.bias",
                        "blocks.0.bn2.running_mean", "blocks.0.bn2.running_var",
                        "blocks.0.conv2.weight", "blocks.0.short.weight"};
  for (size_t i = 0; i < std::size(head); ++i) CHECK(sd[i].first == head[i]);
  CHECK(sd.back().first == "fc.bias");
  auto s = shapes(m);
  CHECK(s["blocks.0.short.weight"] == Shape{32, 16, 1, 1});
  CHECK(s["blocks.2.short.weight"] == Shape{64, 32, 1, 1});
  CHECK(s["blocks.4.short.weight"] == Shape{128, 64, 1, 1});
  CHECK(s["blocks.5.conv2.weight"] == Shape{128, 128, 3, 3});
  CHECK(s["fc.weight"] == Shape{10, 128});
  CHECK(s.count("blocks.1.short.weight") == 0);
}

TEST_CASE("MobileNet and ResNet parameter shapes follow the public code") {
  auto v1 = shapes(models::make_model(models::parse_model_name("mobilenet_v1")));
  CHECK(v1["features.0.0.weight"] == Shape{32, 3, 3, 3});
  CHECK(v1["features.1.body.0.weight"] == Shape{32, 1, 3, 3});
  CHECK(v1["features.1.body.3.weight"] == Shape{64, 32, 1, 1});
  CHECK(v1["features.13.body.3.weight"] == Shape{1024, 1024, 1, 1});
  CHECK(v1["classifier.0.weight"] == Shape{1000, 1024});
  auto v2 = shapes(models::make_model(models::parse_model_name("mobilenet_v2")));
  CHECK(v2["features.1.body.0.weight"] == Shape{32, 1, 3, 3});  // t = 1: no expansion conv
  CHECK(v2["features.2.body.0.weight"] == Shape{96, 16, 1, 1});
  CHECK(v2["features.2.body.3.weight"] == Shape{96, 1, 3, 3});
  CHECK(v2["features.2.body.6.weight"] == Shape{24, 96, 1, 1});
  CHECK(v2["features.18.0.weight"] == Shape{1280, 320, 1, 1});
  CHECK(v2["features.18.1.running_var"] == Shape{1280});
  CHECK(v2["classifier.0.weight"] == Shape{1000, 1280});
  auto r50 = shapes(models::make_model(models::parse_model_name("resnet50")));
  CHECK(r50["features.0.0.weight"] == Shape{64, 3, 7, 7});
  CHECK(r50["features.1.body.0.weight"] == Shape{64, 64, 1, 1});
  CHECK(r50["features.1.body.3.weight"] == Shape{64, 64, 3, 3});
  CHECK(r50["features.1.body.6.weight"] == Shape{256, 64, 1, 1});
  CHECK(r50["features.1.shortcut.0.weight"] == Shape{256, 64, 1, 1});
  CHECK(r50["features.4.shortcut.0.weight"] == Shape{512, 256, 1, 1});
  CHECK(r50.count("features.2.shortcut.0.weight") == 0);
  CHECK(r50["classifier.0.weight"] == Shape{1000, 2048});
}

TEST_CASE("WRN-10-2 equals the PyTorch reference with the same weights at widths 0.5 and 1.0") {
  // Values printed by tests/mutualnet/wrn_reference.py (float64).
  const double logits_half[] = {-0.04453649575, 0.3331574678,  0.1518595386,  -0.1926206688,
                                -0.0323567244,  0.1814065268,  -0.1092434256, -0.3326786764,
                                0.01740007168,  0.2896062878,  -0.02407700928, 0.338431896,
                                0.1307189712,   -0.1951652396, -0.01088757948, 0.1811788113,
                                -0.1306831659,  -0.3296824716, 0.03845291544,  0.2838915533};
  const double logits_full[] = {-0.08270001072, 0.5979932729,  0.1558251072,  -0.4579685433,
                                -0.00205822365, 0.4428419903,  -0.1733007905, -0.5858424852,
                                0.1141481914,   0.530277122,   -0.09799513224, 0.5612659271,
                                0.1758627891,   -0.4238286406, -0.02650435239, 0.4118587884,
                                -0.1448538361,  -0.5585326062, 0.08217474337,  0.507095938};
  Model m = models::make_model(fashion_wrn(10, 2));
  set_reference_weights(m);
  m.net->train();
  std::vector<float> xs(2 * 144);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = float(std::sin(0.3 * double(i)));
  Variable x(Tensor::from_vector(xs, {2, 1, 12, 12}));

  m.width->set(0.5);
  std::vector<float> half = m(x).data().to_vector<float>();
  m.width->set(1.0);
  Variable out = m(x);
  std::vector<float> full = out.data().to_vector<float>();
  for (size_t i = 0; i < 20; ++i) {
    INFO("logit ", i);
    CHECK(half[i] == doctest::Approx(logits_half[i]).epsilon(1e-4));
    CHECK(full[i] == doctest::Approx(logits_full[i]).epsilon(1e-4));
  }
  Variable loss = cross_entropy(out, Tensor::from_vector<int64_t>({3, 7}, {2}));
  CHECK(loss.data().item() == doctest::Approx(2.927991052).epsilon(1e-5));
  loss.backward();
  auto named = m.net->named_parameters();
  std::map<std::string, Variable> params(named.begin(), named.end());
  CHECK(sum_of_squares(params["conv1.weight"].grad()) == doctest::Approx(0.01689821725).epsilon(1e-4));
  CHECK(sum_of_squares(params["blocks.1.conv2.weight"].grad()) ==
        doctest::Approx(0.02731721788).epsilon(1e-4));
  CHECK(sum_of_squares(params["blocks.2.short.weight"].grad()) ==
        doctest::Approx(0.034844948).epsilon(1e-4));
  CHECK(sum_of_squares(params["fc.weight"].grad()) == doctest::Approx(11.8137887).epsilon(1e-4));
}

TEST_CASE("every model trains a step at its min and max width and its resolutions") {
  SUBCASE("WRN on 1x28x28 (Fashion-MNIST recipe)") {
    Model m = models::build_model(fashion_wrn(16, 2), 1, 0);
    for (double w : {0.25, 1.0})
      for (int64_t r : models::recipe_resolutions(m.spec)) train_step(m, w, r, 7);
  }
  SUBCASE("WRN on 3x32x32 (CIFAR recipe; depth 10 stands in for 28, same blocks)") {
    ModelSpec spec = models::parse_model_name("wrn-10-2");
    Model m = models::build_model(spec, 2, 0);
    for (double w : {0.9, 1.0})
      for (int64_t r : models::recipe_resolutions(spec)) train_step(m, w, r, 8);
  }
  for (const char* name : {"mobilenet_v1", "mobilenet_v2", "resnet50"}) {
    SUBCASE(name) {
      Model m = models::build_model(models::parse_model_name(name), 3, 0);
      auto [lo, hi] = models::recipe_width_range(m.spec);
      for (double w : {lo, hi})
        for (int64_t r : {64, 32}) train_step(m, w, r, 9);
    }
  }
}

TEST_CASE("the shape walk gives (1, classes) at every recipe width and resolution") {
  for (const char* name : {"wrn-28-10", "mobilenet_v1", "mobilenet_v2", "resnet50"}) {
    Model m = models::make_model(models::parse_model_name(name));
    auto [lo, hi] = models::recipe_width_range(m.spec);
    for (double w : {lo, hi})
      for (int64_t r : models::recipe_resolutions(m.spec)) {
        INFO(name, " ", w, "-", r);
        CHECK(subnet_cost(m, w, r).macs > 0);  // subnet_cost checks the output shape
      }
  }
}

TEST_CASE("a checkpoint of another architecture fails naming the tensors") {
  Model small = models::make_model(fashion_wrn(16, 2));
  Model wide = models::make_model(fashion_wrn(16, 4));
  CHECK_THROWS_WITH_AS(
      wide.net->load_state_dict(small.net->state_dict()),
      doctest::Contains("blocks.0.conv1.weight (checkpoint (32, 16, 3, 3), model (64, 16, 3, 3))"),
      Error);
  Model deeper = models::make_model(fashion_wrn(22, 2));
  CHECK_THROWS_WITH_AS(deeper.net->load_state_dict(small.net->state_dict()),
                       doctest::Contains("missing: blocks.3.short.weight, blocks.6.bn1.weight"),
                       Error);
}

TEST_CASE("model names and builders") {
  ModelSpec spec = models::parse_model_name("wrn-28-10");
  CHECK(spec.depth == 28);
  CHECK(spec.widen == 10);
  CHECK(spec.name() == "wrn-28-10");
  CHECK(models::parse_model_name("resnet-50").name() == "resnet50");
  CHECK(models::parse_model_name("mobilenet_v2").classes == 1000);
  CHECK_THROWS_WITH_AS(models::parse_model_name("vgg16"), doctest::Contains("unknown model 'vgg16'"),
                       Error);
  ModelSpec bad = models::parse_model_name("wrn-27-2");
  CHECK_THROWS_WITH_AS(models::make_model(bad), doctest::Contains("depth 27 is not 6n + 4"), Error);
  // Seeded initialisation is deterministic and follows the public code's scales.
  Model a = models::build_model(models::parse_model_name("mobilenet_v2"), 5, 0);
  Model b = models::build_model(models::parse_model_name("mobilenet_v2"), 5, 0);
  auto sa = a.net->state_dict(), sb = b.net->state_dict();
  CHECK(sum_of_squares(sa[0].second) == sum_of_squares(sb[0].second));
  // features.0.0.weight (32, 3, 3, 3): kaiming normal fan-out, variance 2 / (32 * 9).
  CHECK(sum_of_squares(sa[0].second) / 864 == doctest::Approx(2.0 / 288).epsilon(0.15));
  CHECK(a.net->state_dict()[2].first == "features.0.1.bias");
}
