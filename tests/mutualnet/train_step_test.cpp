// The MutualNet step on a tiny WRN: the sub-networks it draws, and the gradient it hands to SGD
// equals the sum of the gradients of its loss terms computed one at a time (widest CE on R0, each
// sub-network's KL from the detached widest logits), so every term is accumulated exactly once.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "autograd/functions.h"
#include "mutualnet/train_step.h"
#include "tensor/ops.h"
#include "tests/common/test_util.h"

using namespace mn;

namespace {

models::Model tiny_model() {
  models::ModelSpec spec;
  spec.arch = models::Arch::wrn;
  spec.depth = 10;
  spec.widen = 1;
  spec.classes = 10;
  spec.in_channels = 1;
  spec.divisor = 4;
  return models::build_model(spec, 7, 0);
}

// Plain SGD with lr 0 leaves the weights alone and the accumulated gradients in place.
nn::Sgd frozen_sgd(models::Model& m) {
  return nn::Sgd({nn::ParamGroup{m.net->named_parameters(), 0}}, nn::SgdOptions{0, 0, 0, false});
}

std::vector<Tensor> grads_of(models::Model& m) {
  std::vector<Tensor> out;
  for (const Variable& p : m.net->parameters())
    out.push_back(p.grad().defined() ? p.grad().clone() : Tensor::zeros(p.shape()));
  return out;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.contiguous().to_vector<float>()) m = std::max(m, double(std::fabs(v)));
  return m;
}

}  // namespace

TEST_CASE("train step: sandwich sampling draws widest, narrowest and N random widths, largest first") {
  StepOptions o;
  o.width_min = 0.25;
  o.width_max = 1.0;
  o.num_random_widths = 3;
  const std::vector<int64_t> res{28, 24, 20, 16};
  Generator g(1995);
  bool saw_other_resolution = false;
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<Subnet> s = sample_subnets(o, res, g);
    REQUIRE(s.size() == 5);
    CHECK(s[0].width == 1.0);
    CHECK(s[0].resolution == 28);
    CHECK(s.back().width == 0.25);
    for (size_t k = 1; k < s.size(); ++k) {
      CHECK(s[k].width >= 0.25);
      CHECK(s[k].width <= 1.0);
      if (k > 1) CHECK(s[k].width <= s[k - 1].width);
      CHECK(std::find(res.begin(), res.end(), s[k].resolution) != res.end());
      saw_other_resolution |= s[k].resolution != 28;
    }
  }
  CHECK(saw_other_resolution);
  // The same generator state draws the same sub-networks; without random resolution all use R0.
  Generator a(5), b(5);
  auto sa = sample_subnets(o, res, a), sb = sample_subnets(o, res, b);
  for (size_t k = 0; k < sa.size(); ++k) CHECK(sa[k].width == sb[k].width);
  o.random_resolution = false;
  for (const Subnet& s : sample_subnets(o, res, g)) CHECK(s.resolution == 28);
}

TEST_CASE("train step: the gradient is the sum of every sub-network's loss term") {
  const std::vector<int64_t> res{16, 12, 8};
  const Tensor x16 = test::normal_tensor({6, 1, 16, 16}, 1);
  const std::vector<Tensor> images{x16, ops::resize_bilinear_forward(x16, 12, 12, true),
                                   ops::resize_bilinear_forward(x16, 8, 8, true)};
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 3, 9, 1, 1, 5}, {6});
  const std::vector<Subnet> subnets{{1.0, 16}, {0.75, 8}, {0.5, 12}, {0.25, 16}};

  for (bool distill : {true, false}) {
    CAPTURE(distill);
    StepOptions o;
    o.distill = distill;
    models::Model model = tiny_model();
    nn::Sgd sgd = frozen_sgd(model);
    std::vector<StepTerm> terms = mutualnet_step(model, sgd, images, res, labels, subnets, o, 0.0);
    REQUIRE(terms.size() == 4);
    CHECK(terms[0].loss_kind == LossKind::cross_entropy);
    CHECK(terms[1].loss_kind == (distill ? LossKind::kl : LossKind::cross_entropy));
    CHECK(terms[0].loss > 1.0);  // about ln 10 for an untrained network
    const std::vector<Tensor> accumulated = grads_of(model);

    // The same terms, one at a time, on a fresh copy of the same initial network.
    models::Model ref = tiny_model();
    ref.net->train();
    std::vector<Tensor> sum = grads_of(ref);  // zeros
    Tensor teacher;
    for (size_t k = 0; k < subnets.size(); ++k) {
      ref.net->zero_grad();
      WidthScope scope(*ref.width, subnets[k].width);
      const size_t ri = subnets[k].resolution == 16 ? 0 : subnets[k].resolution == 12 ? 1 : 2;
      Variable logits = ref(Variable(images[ri]));
      Variable loss = k == 0 ? cross_entropy(logits, labels)
                      : distill ? kl_div(logits, teacher)
                                : cross_entropy(logits, labels);
      if (k == 0) teacher = logits.data().clone();
      CHECK(loss.data().item() == doctest::Approx(terms[k].loss).epsilon(1e-6));
      loss.backward();
      std::vector<Tensor> g = grads_of(ref);
      double contribution = 0;
      for (size_t i = 0; i < g.size(); ++i) {
        contribution = std::max(contribution, max_abs(g[i]));
        sum[i] = ops::add(sum[i], g[i]);
      }
      CHECK(contribution > 1e-6);  // every term contributes
    }
    const auto params = model.net->named_parameters();
    for (size_t i = 0; i < sum.size(); ++i) {
      CAPTURE(params[i].first);
      const double scale = std::max(1e-3, max_abs(sum[i]));
      CHECK(max_abs(ops::sub(accumulated[i], sum[i])) <= 1e-5 * scale);
    }
  }
}

TEST_CASE("train step: one SGD step follows the accumulated gradient; NaN stops before it") {
  const std::vector<int64_t> res{16};
  const Tensor x = test::normal_tensor({4, 1, 16, 16}, 3);
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{2, 2, 7, 0}, {4});
  StepOptions o;
  o.random_resolution = false;
  Generator g(1);
  models::Model model = tiny_model();
  nn::Sgd sgd({nn::ParamGroup{model.net->named_parameters(), 0}}, nn::SgdOptions{0.5, 0, 0, false});
  const auto params = model.net->parameters();
  std::vector<Tensor> before;
  for (const Variable& p : params) before.push_back(p.data().clone());
  mutualnet_step(model, sgd, {x}, res, labels, sample_subnets(o, res, g), o, 0.5);
  CHECK(sgd.lr() == 0.5);
  for (size_t i = 0; i < params.size(); ++i) {
    // Plain SGD: w <- w - lr * g, with g the gradient accumulated over all terms.
    Tensor expected = ops::sub(before[i], ops::scale(params[i].grad(), 0.5));
    CHECK(max_abs(ops::sub(params[i].data(), expected)) <= 1e-6);
  }

  // A NaN in the classifier makes every loss NaN: the step throws, naming the first sub-network,
  // and no weight changes (bitwise).
  for (const auto& [name, p] : model.net->named_parameters())
    if (name == "fc.bias") p.data().fill_(std::nan(""));
  std::vector<std::vector<float>> kept;
  for (const Variable& p : params) kept.push_back(p.data().contiguous().to_vector<float>());
  try {
    mutualnet_step(model, sgd, {x}, res, labels, sample_subnets(o, res, g), o, 0.5);
    FAIL("expected NonFiniteLoss");
  } catch (const NonFiniteLoss& e) {
    CHECK(std::string(e.what()) == "loss is NaN in sub-network 1-16 (cross_entropy)");
    CHECK(e.term.subnet.width == 1.0);
  }
  for (size_t i = 0; i < params.size(); ++i) {
    std::vector<float> now = params[i].data().contiguous().to_vector<float>();
    CHECK(std::memcmp(now.data(), kept[i].data(), now.size() * sizeof(float)) == 0);
  }
}
