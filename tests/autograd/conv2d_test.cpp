// conv2d autograd: gradchecks (float64) over dense, strided, dilated, grouped, depthwise and
// pointwise convolutions with and without bias, on strided inputs and width-sliced weights; the
// sliced weight's gradient lands in its region of the full gradient and accumulates across widths.
#include "tests/autograd/nn_ops_helpers.h"

using namespace mn;
using namespace mn::test;

namespace {
Conv2dArgs conv_args(int stride, int pad, int dil = 1, int groups = 1) {
  Conv2dArgs a;
  a.stride_h = a.stride_w = stride;
  a.pad_h = a.pad_w = pad;
  a.dil_h = a.dil_w = dil;
  a.groups = groups;
  return a;
}
}  // namespace

TEST_CASE("gradcheck: conv2d dense, strided, dilated, with bias") {
  Tensor x = uniform({2, 3, 5, 4}, 1), w = uniform({4, 3, 3, 3}, 2), b = uniform({4}, 3);
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], v[2], conv_args(1, 1)); }, {x, w, b});
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], std::nullopt, conv_args(2, 1)); }, {x, w});
  Tensor xl = uniform({1, 3, 7, 7}, 4);
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], v[2], conv_args(2, 2, 2)); }, {xl, w, b});
}

TEST_CASE("gradcheck: conv2d grouped, depthwise and pointwise") {
  Tensor x = uniform({2, 4, 5, 5}, 5);
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], std::nullopt, conv_args(1, 1, 1, 2)); },
             {x, uniform({6, 2, 3, 3}, 6)});
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], v[2], conv_args(2, 1, 1, 4)); },
             {x, uniform({4, 1, 3, 3}, 7), uniform({4}, 8)});
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], std::nullopt, conv_args(1, 0)); },
             {x, uniform({3, 4, 1, 1}, 9)});
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], std::nullopt, conv_args(2, 0)); },
             {x, uniform({3, 4, 1, 1}, 10)});
}

TEST_CASE("gradcheck: conv2d on a strided input with a width-sliced weight and bias") {
  Tensor x = strided(uniform({2, 3, 5, 6}, 11));
  Tensor w_full = uniform({6, 5, 3, 3}, 12), b_full = uniform({6}, 13);
  check_grad(
      [](const Vars& v) {
        return conv2d(v[0], v[1].slice(0, 0, 4).slice(1, 0, 3), v[2].slice(0, 0, 4), conv_args(1, 1));
      },
      {x, w_full, b_full});
  // a depthwise slice: the first 3 channels of a 5-channel depthwise weight
  check_grad(
      [](const Vars& v) { return conv2d(v[0], v[1].slice(0, 0, 3), std::nullopt, conv_args(1, 1, 1, 3)); },
      {x, uniform({5, 1, 3, 3}, 14)});
}

TEST_CASE("conv2d: two widths' gradients accumulate into their regions of one weight") {
  Variable W(uniform({6, 5, 3, 3}, 15), true);
  Tensor x_wide = uniform({2, 5, 4, 4}, 16), x_narrow = uniform({2, 3, 4, 4}, 17);
  Tensor r_wide = uniform({2, 6, 4, 4}, 18), r_narrow = uniform({2, 4, 4, 4}, 19);
  sum(conv2d(Variable(x_wide), W, std::nullopt, conv_args(1, 1)) * Variable(r_wide)).backward();
  Tensor after_wide = W.grad().clone();
  sum(conv2d(Variable(x_narrow), W.slice(0, 0, 4).slice(1, 0, 3), std::nullopt, conv_args(1, 1)) *
      Variable(r_narrow)).backward();

  // Expected narrow gradient, from a standalone copy of the slice.
  Variable w_copy(W.data().slice(0, 0, 4).slice(1, 0, 3).contiguous(), true);
  sum(conv2d(Variable(x_narrow), w_copy, std::nullopt, conv_args(1, 1)) * Variable(r_narrow)).backward();
  Tensor expected = after_wide.clone();
  ops::add_(expected.slice(0, 0, 4).slice(1, 0, 3), w_copy.grad());
  const auto got = W.grad().to_vector<double>(), want = expected.to_vector<double>();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
}

TEST_CASE("conv2d rejects a bias of the wrong size") {
  Variable x(Tensor::zeros({1, 2, 4, 4})), w(Tensor::zeros({3, 2, 3, 3})), b(Tensor::zeros({4}));
  CHECK_THROWS_WITH_AS(conv2d(x, w, b, Conv2dArgs{}),
                       "conv2d: bias of shape (4,) for 3 output channels", Error);
}
