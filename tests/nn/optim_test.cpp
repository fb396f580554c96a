// SGD against torch.optim.SGD (momentum, Nesterov, dampening, weight decay; values from PyTorch
// 1.13 on the same parameters and gradients), its checkpointable state, the ImageNet recipe's
// weight-decay groups, and the LR schedules against their PyTorch counterparts.
#include <doctest/doctest.h>

#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "tests/nn/test_util.h"

using namespace mn;
using namespace mn::nn;

namespace {

struct Run {
  Variable p;
  std::unique_ptr<Sgd> opt;
};

// Steps with the given LRs on p = (1, -2, 0.5) with fixed gradients.
Run run_sgd(const SgdOptions& options, double weight_decay, const std::vector<double>& lrs) {
  Run r{Variable(Tensor::from_vector<float>({1.0f, -2.0f, 0.5f}, {3}), true), nullptr};
  r.opt = std::make_unique<Sgd>(std::vector<ParamGroup>{{{{"p", r.p}}, weight_decay}}, options);
  const std::vector<std::vector<float>> grads = {{0.5f, -1.0f, 2.0f}, {0.25f, 0.75f, -1.5f},
                                                 {-0.5f, 0.1f, 0.3f}};
  for (size_t i = 0; i < lrs.size(); ++i) {
    r.opt->set_lr(lrs[i]);
    r.p.set_grad(Tensor::from_vector<float>(grads[i], {3}));
    r.opt->step();
  }
  return r;
}

void check_values(const Tensor& t, const std::vector<double>& expected) {
  std::vector<float> v = t.to_vector<float>();
  REQUIRE(v.size() == expected.size());
  for (size_t i = 0; i < v.size(); ++i) CHECK(v[i] == doctest::Approx(expected[i]).epsilon(1e-6));
}

}  // namespace

TEST_CASE("SGD with Nesterov momentum and weight decay follows torch.optim.SGD") {
  Run r = run_sgd({.lr = 0.1, .momentum = 0.9, .nesterov = true}, 5e-4, {0.1, 0.05, 0.02});
  check_values(r.p.data(), {0.868470791288, -1.84173932633, 0.165168613344});
  StateDict state = r.opt->state_dict();
  REQUIRE(state.size() == 2);
  CHECK(state[0].first == "step");
  CHECK(state[0].second.item() == 3);
  CHECK(state[1].first == "momentum_buffer.p");
  check_values(state[1].second, {0.131242628134, -0.037544631267, 0.570347196964});
}

TEST_CASE("SGD with dampening starts its buffer at the first gradient, as PyTorch") {
  Run r = run_sgd({.lr = 0.1, .momentum = 0.9, .dampening = 0.1}, 1e-4, {0.1, 0.1, 0.1});
  check_values(r.p.data(), {0.866698712919, -1.86614641334, 0.187479025195});
}

TEST_CASE("plain SGD") {
  Run r = run_sgd({.lr = 0.1}, 0, {0.1, 0.1, 0.1});
  check_values(r.p.data(), {0.975, -1.985, 0.42});
}

TEST_CASE("optimizer state round trip resumes the same trajectory") {
  auto make = [](Variable& p) {
    p = Variable(Tensor::from_vector<float>({1.0f, -2.0f, 0.5f}, {3}), true);
    return std::make_unique<Sgd>(std::vector<ParamGroup>{{{{"w", p}}, 1e-3}},
                                 SgdOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
  };
  Variable a, b;
  auto oa = make(a), ob = make(b);
  for (int i = 0; i < 2; ++i) {
    a.set_grad(Tensor::from_vector<float>({0.3f, -0.1f, float(i)}, {3}));
    oa->step();
  }
  b.data().copy_(a.data());
  StateDict saved;
  for (auto& [n, t] : oa->state_dict()) saved.emplace_back(n, t.clone());
  ob->load_state_dict(saved);
  CHECK(ob->steps() == 2);
  a.set_grad(Tensor::from_vector<float>({1.0f, 2.0f, 3.0f}, {3}));
  b.set_grad(Tensor::from_vector<float>({1.0f, 2.0f, 3.0f}, {3}));
  oa->step();
  ob->step();
  CHECK(test::max_abs_diff(a.data(), b.data()) == 0);

  saved.back().second = Tensor::zeros({4});
  CHECK_THROWS_WITH_AS(ob->load_state_dict(saved),
                       doctest::Contains("wrong shape: momentum_buffer.w (checkpoint (4,), model (3,))"),
                       Error);
}

TEST_CASE("parameters without a gradient are left alone") {
  Variable used(Tensor::ones({2}), true), unused(Tensor::ones({2}), true);
  Sgd opt({{{{"used", used}, {"unused", unused}}, 0.1}}, {.lr = 0.5, .momentum = 0.9});
  used.set_grad(Tensor::ones({2}));
  opt.step();
  check_values(used.data(), {0.45, 0.45});
  check_values(unused.data(), {1, 1});
}

TEST_CASE("ImageNet recipe: no weight decay on depthwise convs, BN parameters or biases") {
  struct Net : Module {
    Conv2d conv, dw;
    BatchNorm2d bn;
    Linear fc;
    Net() : conv(3, 8, 3), dw(8, 8, 3, {.depthwise = true}), bn(8), fc(8, 10) {
      register_module("conv", conv);
      register_module("dw", dw);
      register_module("bn", bn);
      register_module("fc", fc);
    }
    Variable forward(const Variable& x) override { return x; }
    Probe trace(const Probe& x) override { return x; }
  } net;
  auto names = [](const ParamGroup& g) {
    std::vector<std::string> out;
    for (auto& [n, p] : g.params) out.push_back(n);
    return out;
  };
  auto groups = weight_decay_groups(net, 1e-4, DecayRule::conv_and_linear_weights);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].weight_decay == 1e-4);
  CHECK(names(groups[0]) == std::vector<std::string>{"conv.weight", "fc.weight"});
  CHECK(groups[1].weight_decay == 0);
  CHECK(names(groups[1]) ==
        std::vector<std::string>{"dw.weight", "bn.weight", "bn.bias", "fc.bias"});
  auto all = weight_decay_groups(net, 5e-4, DecayRule::all);
  REQUIRE(all.size() == 1);
  CHECK(all[0].params.size() == 6);
}

TEST_CASE("cosine schedule per iteration equals PyTorch's CosineAnnealingLR") {
  LrSchedule s;
  s.kind = LrSchedule::Kind::cosine;
  s.base_lr = 0.1;
  s.total_iters = 10;
  // torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10): lr before steps 0..10.
  const double torch_lrs[] = {0.1,          0.0975528258148, 0.0904508497187, 0.0793892626146,
                              0.0654508497187, 0.05,         0.0345491502813, 0.0206107373854,
                              0.00954915028125, 0.00244717418524, 0};
  for (int i = 0; i <= 10; ++i) CHECK(s.lr_at(i) == doctest::Approx(torch_lrs[i]).epsilon(1e-10));
}

TEST_CASE("linear warm-up, then cosine or step decay") {
  LrSchedule cos;
  cos.base_lr = 0.4;
  cos.total_iters = 14;
  cos.warmup_iters = 4;
  cos.warmup_start = 0.25;
  CHECK(cos.lr_at(0) == doctest::Approx(0.1));
  CHECK(cos.lr_at(2) == doctest::Approx(0.25));
  CHECK(cos.lr_at(4) == doctest::Approx(0.4));
  CHECK(cos.lr_at(9) == doctest::Approx(0.2));
  CHECK(cos.lr_at(14) == doctest::Approx(0).epsilon(1e-12));
  LrSchedule step;
  step.kind = LrSchedule::Kind::step;
  step.base_lr = 0.1;
  step.total_iters = 100;
  step.milestones = {30, 60};
  step.gamma = 0.1;
  CHECK(step.lr_at(29) == doctest::Approx(0.1));
  CHECK(step.lr_at(30) == doctest::Approx(0.01));
  CHECK(step.lr_at(99) == doctest::Approx(0.001));
  CHECK_THROWS_AS(step.lr_at(-1), Error);
}
