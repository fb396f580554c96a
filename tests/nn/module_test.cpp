// Module bookkeeping: dotted names in registration order, train/eval, the strict state dict
// (round trip; every missing, unexpected and mis-shaped tensor named), device moves.
#include <doctest/doctest.h>

#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/pool.h"
#include "tests/nn/test_util.h"

using namespace mn;
using namespace mn::nn;

namespace {

// A residual block with members and an owned optional shortcut, inside a Sequential.
class Block : public Module {
 public:
  Block(int64_t in, int64_t out) : conv1(in, out, 3, {.padding = 1}), bn1(out) {
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    if (in != out) {
      shortcut = std::make_shared<Conv2d>(in, out, 1);
      register_module("short", shortcut);
    }
  }
  Variable forward(const Variable& x) override { return x; }
  Probe trace(const Probe& x) override { return x; }

  Conv2d conv1;
  BatchNorm2d bn1;
  std::shared_ptr<Conv2d> shortcut;
};

class Net : public Module {
 public:
  Net(int64_t width)
      : stem(3, 8, 3),
        blocks(std::make_shared<Block>(8, width), std::make_shared<ReLU>(),
               std::make_shared<Block>(width, width)),
        fc(width, 10) {
    register_module("stem", stem);
    register_module("blocks", blocks);
    register_module("fc", fc);
  }
  Variable forward(const Variable& x) override { return x; }
  Probe trace(const Probe& x) override { return x; }

  Conv2d stem;
  Sequential blocks;
  Linear fc;
};

std::vector<std::string> names(const StateDict& sd) {
  std::vector<std::string> out;
  for (const auto& [n, t] : sd) out.push_back(n);
  return out;
}

void randomize(Module& m, uint64_t seed) {
  for (auto& [name, t] : m.state_dict()) t.copy_(test::uniform_tensor(t.shape(), seed++));
}

}  // namespace

TEST_CASE("parameters, buffers and modules have stable dotted names") {
  Net net(16);
  std::vector<std::string> params;
  for (auto& [n, p] : net.named_parameters()) params.push_back(n);
  CHECK(params == std::vector<std::string>{
                      "stem.weight", "blocks.0.conv1.weight", "blocks.0.bn1.weight",
                      "blocks.0.bn1.bias", "blocks.0.short.weight", "blocks.2.conv1.weight",
                      "blocks.2.bn1.weight", "blocks.2.bn1.bias", "fc.weight", "fc.bias"});
  std::vector<std::string> buffers;
  for (auto& [n, b] : net.named_buffers()) buffers.push_back(n);
  CHECK(buffers == std::vector<std::string>{"blocks.0.bn1.running_mean", "blocks.0.bn1.running_var",
                                            "blocks.2.bn1.running_mean",
                                            "blocks.2.bn1.running_var"});
  // PyTorch's order: each module's parameters, then its buffers, then its children.
  CHECK(names(net.state_dict()) ==
        std::vector<std::string>{"stem.weight", "blocks.0.conv1.weight", "blocks.0.bn1.weight",
                                 "blocks.0.bn1.bias", "blocks.0.bn1.running_mean",
                                 "blocks.0.bn1.running_var", "blocks.0.short.weight",
                                 "blocks.2.conv1.weight", "blocks.2.bn1.weight",
                                 "blocks.2.bn1.bias", "blocks.2.bn1.running_mean",
                                 "blocks.2.bn1.running_var", "fc.weight", "fc.bias"});
  auto mods = net.named_modules();
  REQUIRE(mods.size() == 12);  // the net, stem, blocks, 0, its 3, 1 (ReLU), 2, its 2, fc
  CHECK(mods[0].first == "");
  CHECK(mods[6].first == "blocks.0.short");
  CHECK(mods[6].second->path() == "blocks.0.short");
  CHECK(mods[6].second->label("Conv2d") == "Conv2d blocks.0.short");
  CHECK(mods[7].first == "blocks.1");
  CHECK(net.label("Net") == "Net");
}

TEST_CASE("a module cannot be registered twice or under a dotted name") {
  struct Bad : Module {
    Linear a;
    Bad() : a(2, 2) {}
    Variable forward(const Variable& x) override { return x; }
    Probe trace(const Probe& x) override { return x; }
    void twice() {
      register_module("a", a);
      register_module("b", a);
    }
    void dotted() { register_module("x.y", a); }
  };
  Bad bad;
  CHECK_THROWS_WITH_AS(bad.twice(), doctest::Contains("'b' is already registered as 'a'"), Error);
  Bad other;
  CHECK_THROWS_WITH_AS(other.dotted(), doctest::Contains("'x.y'"), Error);
}

TEST_CASE("train and eval reach every sub-module") {
  Net net(16);
  CHECK(net.is_training());
  net.eval();
  for (auto& [n, m] : net.named_modules()) CHECK_FALSE(m->is_training());
  net.train();
  for (auto& [n, m] : net.named_modules()) CHECK(m->is_training());
}

TEST_CASE("state dict round trip copies every parameter and buffer") {
  Net a(16), b(16);
  randomize(a, 100);
  randomize(b, 200);
  b.load_state_dict(a.state_dict());
  StateDict sa = a.state_dict(), sb = b.state_dict();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    INFO(sa[i].first);
    CHECK(test::max_abs_diff(sa[i].second, sb[i].second) == 0);
    // Loaded in place: b's tensors are still its own storage.
    CHECK(sa[i].second.storage() != sb[i].second.storage());
  }
  // The registered members are what was loaded.
  CHECK(test::max_abs_diff(b.fc.weight.data(), a.fc.weight.data()) == 0);
  CHECK(test::max_abs_diff(static_cast<Block&>(b.blocks[2]).bn1.running_var,
                           static_cast<Block&>(a.blocks[2]).bn1.running_var) == 0);
}

TEST_CASE("loading names every missing, unexpected and mis-shaped tensor and loads nothing") {
  Net small(16), wide(32);
  randomize(wide, 1);
  Tensor before = wide.fc.bias.data().clone();
  try {
    wide.load_state_dict(small.state_dict());
    FAIL("load of a mis-shaped state succeeded");
  } catch (const Error& e) {
    std::string msg = e.what();
    CHECK(msg.find("wrong shape: blocks.0.conv1.weight (checkpoint (16, 8, 3, 3), model (32, 8, "
                   "3, 3))") != std::string::npos);
    CHECK(msg.find("fc.weight (checkpoint (10, 16), model (10, 32))") != std::string::npos);
    CHECK(msg.find("stem.weight") == std::string::npos);  // that one matches
  }
  CHECK(test::max_abs_diff(wide.fc.bias.data(), before) == 0);

  StateDict sd = small.state_dict();
  sd.erase(sd.begin() + 4);  // blocks.0.bn1.running_mean
  sd.emplace_back("blocks.1.weight", Tensor::zeros({3}));
  Net target(16);
  CHECK_THROWS_WITH_AS(target.load_state_dict(sd),
                       "load_state_dict: state does not match; missing: blocks.0.bn1.running_mean; "
                       "unexpected: blocks.1.weight",
                       Error);
}

TEST_CASE("to(cpu) keeps tensors; zero_grad drops gradients") {
  Linear fc(3, 2);
  Tensor w = fc.weight.data();
  fc.to(Device::cpu());
  CHECK(fc.weight.data().storage() == w.storage());
  fc.weight.set_grad(Tensor::ones({2, 3}));
  fc.zero_grad();
  CHECK_FALSE(fc.weight.grad().defined());
}
