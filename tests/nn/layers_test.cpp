// Natively slimmable layers: at every width a layer equals an ordinary layer built from the sliced
// weights (forward and gradients), its gradient lands only in the active region of the full
// parameter, gradients from two widths accumulate, and non-slimmable ends stay fixed.
#include <doctest/doctest.h>

#include "autograd/functions.h"
#include "tensor/ops.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/pool.h"
#include "tests/nn/test_util.h"

using namespace mn;
using namespace mn::nn;
using test::max_abs_diff;
using test::uniform_tensor;

namespace {

constexpr double kTol = 2e-5;

// L = sum(y * R) for a fixed random R: every output element gets a distinct upstream gradient.
Variable weighted_sum(const Variable& y, uint64_t seed) {
  return sum(y * Variable(uniform_tensor(y.shape(), seed)));
}

// A copy of the leading block of t: the parameter of an ordinary layer of the smaller width.
Tensor leading(const Tensor& t, const Shape& sizes) {
  Tensor v = t;
  for (int d = 0; d < static_cast<int>(sizes.size()); ++d) v = v.slice(d, 0, sizes[d]);
  return v.clone();
}

// The gradient outside the leading block must be exactly zero.
void check_zero_outside(const Tensor& grad, const Shape& sizes) {
  Tensor g = grad.clone();
  Tensor inside = g;
  for (int d = 0; d < static_cast<int>(sizes.size()); ++d) inside = inside.slice(d, 0, sizes[d]);
  inside.zero_();
  CHECK(max_abs_diff(g, Tensor::zeros(g.shape())) == 0);
}

void randomize(Module& m, uint64_t seed) {
  for (auto& [name, t] : m.state_dict()) t.copy_(uniform_tensor(t.shape(), seed++));
}

}  // namespace

TEST_CASE("Linear at several widths equals an ordinary Linear of the sliced weights") {
  auto width = std::make_shared<test::FixedWidth>();
  Linear slim(12, 8, {}, width);
  randomize(slim, 1);
  for (double w : {1.0, 0.75, 0.5, 0.3}) {
    width->width = w;
    const int64_t in = width->active(12), out = width->active(8);
    INFO("width ", w, ": ", in, " -> ", out);
    Linear plain(in, out);
    plain.weight.data().copy_(leading(slim.weight.data(), {out, in}));
    plain.bias.data().copy_(leading(slim.bias.data(), {out}));

    Tensor x = uniform_tensor({5, in}, 10);
    Variable xs(x, true), xp(x.clone(), true);
    slim.zero_grad();
    Variable ys = slim(xs), yp = plain(xp);
    REQUIRE(ys.shape() == Shape{5, out});
    CHECK(max_abs_diff(ys.data(), yp.data()) < kTol);
    weighted_sum(ys, 20).backward();
    weighted_sum(yp, 20).backward();
    CHECK(max_abs_diff(xs.grad(), xp.grad()) < kTol);
    CHECK(max_abs_diff(leading(slim.weight.grad(), {out, in}), plain.weight.grad()) < kTol);
    CHECK(max_abs_diff(leading(slim.bias.grad(), {out}), plain.bias.grad()) < kTol);
    check_zero_outside(slim.weight.grad(), {out, in});
    check_zero_outside(slim.bias.grad(), {out});
  }
}

TEST_CASE("Conv2d at several widths equals an ordinary Conv2d of the sliced weights") {
  auto width = std::make_shared<test::FixedWidth>();
  Conv2d slim(8, 12, 3, {.stride = 2, .padding = 1, .bias = true}, width);
  randomize(slim, 2);
  for (double w : {1.0, 0.75, 0.5, 0.25}) {
    width->width = w;
    const int64_t in = width->active(8), out = width->active(12);
    INFO("width ", w, ": ", in, " -> ", out);
    Conv2d plain(in, out, 3, {.stride = 2, .padding = 1, .bias = true});
    plain.weight.data().copy_(leading(slim.weight.data(), {out, in}));
    plain.bias.data().copy_(leading(slim.bias.data(), {out}));

    Tensor x = uniform_tensor({2, in, 7, 6}, 11);
    Variable xs(x, true), xp(x.clone(), true);
    slim.zero_grad();
    Variable ys = slim(xs), yp = plain(xp);
    REQUIRE(ys.shape() == Shape{2, out, 4, 3});
    CHECK(max_abs_diff(ys.data(), yp.data()) < kTol);
    weighted_sum(ys, 21).backward();
    weighted_sum(yp, 21).backward();
    CHECK(max_abs_diff(xs.grad(), xp.grad()) < kTol);
    CHECK(max_abs_diff(leading(slim.weight.grad(), {out, in}), plain.weight.grad()) < kTol);
    CHECK(max_abs_diff(leading(slim.bias.grad(), {out}), plain.bias.grad()) < kTol);
    check_zero_outside(slim.weight.grad(), {out, in});
  }
}

TEST_CASE("a depthwise Conv2d follows the width of its input") {
  auto width = std::make_shared<test::FixedWidth>();
  Conv2d slim(12, 12, 3, {.padding = 1, .depthwise = true}, width);
  randomize(slim, 3);
  for (int64_t c : {12, 9, 4}) {
    width->width = 0.5;  // the depthwise conv ignores the width: its input decides
    INFO(c, " channels");
    Conv2d plain(c, c, 3, {.padding = 1, .groups = static_cast<int>(c)});
    plain.weight.data().copy_(leading(slim.weight.data(), {c}));
    Tensor x = uniform_tensor({2, c, 5, 5}, 12);
    Variable xs(x, true), xp(x.clone(), true);
    slim.zero_grad();
    Variable ys = slim(xs), yp = plain(xp);
    REQUIRE(ys.shape() == Shape{2, c, 5, 5});
    CHECK(max_abs_diff(ys.data(), yp.data()) < kTol);
    weighted_sum(ys, 22).backward();
    weighted_sum(yp, 22).backward();
    CHECK(max_abs_diff(xs.grad(), xp.grad()) < kTol);
    CHECK(max_abs_diff(leading(slim.weight.grad(), {c}), plain.weight.grad()) < kTol);
    check_zero_outside(slim.weight.grad(), {c});
  }
}

TEST_CASE("BatchNorm2d normalises the channels that arrive with the leading statistics") {
  BatchNorm2d slim(10);
  randomize(slim, 4);
  slim.running_var.copy_(ops::add_scalar(ops::abs(slim.running_var), 0.5));
  for (int64_t c : {10, 6, 3}) {
    INFO(c, " channels");
    BatchNorm2d plain(c);
    plain.weight.data().copy_(leading(slim.weight.data(), {c}));
    plain.bias.data().copy_(leading(slim.bias.data(), {c}));
    plain.running_mean.copy_(leading(slim.running_mean, {c}));
    plain.running_var.copy_(leading(slim.running_var, {c}));
    Tensor untouched_mean = slim.running_mean.slice(0, c, 10).clone();

    Tensor x = uniform_tensor({4, c, 3, 3}, 13);
    Variable xs(x, true), xp(x.clone(), true);
    slim.zero_grad();
    slim.train();
    plain.train();
    Variable ys = slim(xs), yp = plain(xp);
    CHECK(max_abs_diff(ys.data(), yp.data()) < kTol);
    weighted_sum(ys, 23).backward();
    weighted_sum(yp, 23).backward();
    CHECK(max_abs_diff(xs.grad(), xp.grad()) < kTol);
    CHECK(max_abs_diff(leading(slim.weight.grad(), {c}), plain.weight.grad()) < kTol);
    CHECK(max_abs_diff(leading(slim.bias.grad(), {c}), plain.bias.grad()) < kTol);
    check_zero_outside(slim.weight.grad(), {c});
    // Training updated the active running statistics only.
    CHECK(max_abs_diff(leading(slim.running_mean, {c}), plain.running_mean) < kTol);
    CHECK(max_abs_diff(leading(slim.running_var, {c}), plain.running_var) < kTol);
    if (c < 10) CHECK(max_abs_diff(slim.running_mean.slice(0, c, 10), untouched_mean) == 0);

    slim.eval();
    plain.eval();
    CHECK(max_abs_diff(slim(Variable(x)).data(), plain(Variable(x)).data()) < kTol);
  }
}

TEST_CASE("gradients from two widths accumulate into the right regions") {
  auto width = std::make_shared<test::FixedWidth>();
  Conv2d conv(8, 8, 3, {.padding = 1}, width);
  Linear fc(8, 4, {.slim_out = false}, width);
  randomize(conv, 5);
  randomize(fc, 6);
  Tensor x_full = uniform_tensor({2, 8, 4, 4}, 14);
  auto run = [&](double w, uint64_t seed) {
    width->width = w;
    const int64_t in = width->active(8);
    Variable y = conv(Variable(x_full.slice(1, 0, in).contiguous()));
    Variable logits = fc(mean(relu(y), {2, 3}));
    weighted_sum(logits, seed).backward();
  };
  // Each width alone, then both together.
  run(0.5, 30);
  Tensor g_half = conv.weight.grad().clone(), f_half = fc.weight.grad().clone();
  conv.zero_grad();
  fc.zero_grad();
  run(1.0, 31);
  Tensor g_full = conv.weight.grad().clone(), f_full = fc.weight.grad().clone();
  conv.zero_grad();
  fc.zero_grad();
  run(1.0, 31);
  run(0.5, 30);
  CHECK(max_abs_diff(conv.weight.grad(), ops::add(g_half, g_full)) < kTol);
  CHECK(max_abs_diff(fc.weight.grad(), ops::add(f_half, f_full)) < kTol);
  // The half-width pass touched only W[:4, :4] of the conv and the first 4 inputs of the classifier.
  check_zero_outside(g_half, {4, 4});
  check_zero_outside(f_half, {4, 4});
  CHECK(max_abs_diff(conv.weight.grad().slice(0, 4, 8), g_full.slice(0, 4, 8)) == 0);
}

TEST_CASE("non-slimmable ends and impossible widths") {
  auto width = std::make_shared<test::FixedWidth>();
  width->width = 0.5;
  Conv2d first(3, 8, 3, {.padding = 1, .slim_in = false}, width);
  Conv2d fixed_out(8, 6, 1, {.slim_out = false}, width);
  Linear classifier(8, 10, {.slim_out = false}, width);
  CHECK(first.active_out(3) == 4);
  CHECK(fixed_out.active_out(4) == 6);
  CHECK(classifier.active_out() == 10);
  CHECK_THROWS_WITH_AS(first.active_out(2), "Conv2d: input has 2 channels, expected 3", Error);
  CHECK_THROWS_WITH_AS(fixed_out.active_out(9), "Conv2d: input has 9 channels, the weight has 8",
                       Error);
  width->width = 1.5;
  CHECK_THROWS_WITH_AS(first.active_out(3),
                       "Conv2d: the current width asks for 12 output channels, the weight has 8",
                       Error);
}

TEST_CASE("shape walk: conv, linear, BN and pooling report shapes, MACs and active parameters") {
  auto width = std::make_shared<test::FixedWidth>();
  width->width = 0.5;
  Conv2d conv(8, 16, 3, {.stride = 2, .padding = 1, .bias = true}, width);
  Conv2d dw(16, 16, 3, {.padding = 1, .depthwise = true}, width);
  BatchNorm2d bn(16);
  MaxPool2d maxpool(3, 2, 1);
  AvgPool2d avgpool(2, 2);
  Linear fc(8, 10, {.slim_out = false}, width);
  Tally t;
  Probe p{{2, 4, 9, 9}, &t};
  p = conv(p);
  CHECK(p.shape == Shape{2, 8, 5, 5});
  CHECK(t.macs == 2 * 4 * 8 * 9 * 25);
  CHECK(t.params == 8 * 4 * 9 + 8);
  p = bn(dw(p));
  CHECK(t.macs == 2 * 4 * 8 * 9 * 25 + 2 * 8 * 9 * 25);
  CHECK(t.params == 8 * 4 * 9 + 8 + 8 * 9 + 2 * 8);
  p = maxpool(p);
  CHECK(p.shape == Shape{2, 8, 3, 3});
  int64_t macs = t.macs;
  p = avgpool(p);
  CHECK(p.shape == Shape{2, 8, 1, 1});
  CHECK(t.macs == macs + 2 * 8 * 3 * 3);
  p = fc(p.flatten(1));
  CHECK(p.shape == Shape{2, 10});
  CHECK(t.macs == macs + 2 * 8 * 3 * 3 + 2 * 8 * 10);
  CHECK_THROWS_WITH_AS(conv(Probe{{1, 4, 9}, &t}), doctest::Contains("expected (N, C, H, W)"),
                       Error);
}

TEST_CASE("every layer's shape walk agrees with its forward") {
  auto width = std::make_shared<test::FixedWidth>();
  width->width = 0.5;
  std::vector<std::shared_ptr<Module>> layers = {
      std::make_shared<Conv2d>(8, 12, 3, Conv2dOptions{.stride = 2, .padding = 1}, width),
      std::make_shared<Conv2d>(8, 8, 5, Conv2dOptions{.padding = 2, .dilation = 2, .depthwise = true}, width),
      std::make_shared<Conv2d>(4, 6, 3, Conv2dOptions{.groups = 2}),
      std::make_shared<BatchNorm2d>(8),
      std::make_shared<MaxPool2d>(3, 2, 1),
      std::make_shared<AvgPool2d>(3, 2, 1),
      std::make_shared<AdaptiveAvgPool2d>(2, 3),
      std::make_shared<ReLU>(),
      std::make_shared<ReLU6>(),
      std::make_shared<Dropout>(0.5)};
  for (auto& layer : layers) {
    Tensor x = uniform_tensor({2, 4, 11, 9}, 40);
    Shape walked = layer->trace(Probe{x.shape(), nullptr}).shape;
    CHECK((*layer)(Variable(x)).shape() == walked);
  }
  Linear fc(8, 6, {}, width);
  CHECK(fc(Variable(uniform_tensor({3, 5}, 41))).shape() == fc.trace(Probe{{3, 5}, nullptr}).shape);
}

TEST_CASE("Dropout: identity in eval mode, inverted scaling in training") {
  Dropout drop(0.25, 3);
  Tensor x = Tensor::ones({64, 64});
  drop.eval();
  CHECK(max_abs_diff(drop(Variable(x)).data(), x) == 0);
  drop.train();
  std::vector<float> y = drop(Variable(x)).data().to_vector<float>();
  size_t kept = 0;
  for (float v : y) {
    CHECK((v == 0 || std::abs(v - 1 / 0.75f) < 1e-6));
    kept += v != 0;
  }
  CHECK(double(kept) / double(y.size()) == doctest::Approx(0.75).epsilon(0.05));
  CHECK_THROWS_AS(Dropout(1.0), Error);
}
