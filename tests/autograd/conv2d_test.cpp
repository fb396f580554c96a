// conv2d autograd: gradchecks (float64) over dense, strided, dilated, grouped, depthwise and
// pointwise convolutions with and without bias, on strided inputs and width-sliced weights; the
// sliced weight's gradient lands in its region of the full gradient and accumulates across widths.
#include "tests/common/test_util.h"

using namespace mn;
using namespace mn::test;

TEST_CASE("gradcheck: conv2d dense, strided, dilated, with bias") {
  Tensor x = uniform_tensor({2, 3, 5, 4}, 1, DType::f64), w = uniform_tensor({4, 3, 3, 3}, 2, DType::f64),
         b = uniform_tensor({4}, 3, DType::f64);
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], v[2], conv_args(1, 1)); }, {x, w, b});
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], std::nullopt, conv_args(2, 1)); }, {x, w});
  Tensor xl = uniform_tensor({1, 3, 7, 7}, 4, DType::f64);
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], v[2], conv_args(2, 2, 2)); }, {xl, w, b});
}

TEST_CASE("gradcheck: conv2d grouped, depthwise and pointwise") {
  Tensor x = uniform_tensor({2, 4, 5, 5}, 5, DType::f64);
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], std::nullopt, conv_args(1, 1, 1, 2)); },
             {x, uniform_tensor({6, 2, 3, 3}, 6, DType::f64)});
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], v[2], conv_args(2, 1, 1, 4)); },
             {x, uniform_tensor({4, 1, 3, 3}, 7, DType::f64), uniform_tensor({4}, 8, DType::f64)});
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], std::nullopt, conv_args(1, 0)); },
             {x, uniform_tensor({3, 4, 1, 1}, 9, DType::f64)});
  check_grad([](const Vars& v) { return conv2d(v[0], v[1], std::nullopt, conv_args(2, 0)); },
             {x, uniform_tensor({3, 4, 1, 1}, 10, DType::f64)});
}

TEST_CASE("gradcheck: conv2d on a strided input with a width-sliced weight and bias") {
  Tensor x = strided(uniform_tensor({2, 3, 5, 6}, 11, DType::f64));
  Tensor w_full = uniform_tensor({6, 5, 3, 3}, 12, DType::f64), b_full = uniform_tensor({6}, 13, DType::f64);
  check_grad(
      [](const Vars& v) {
        return conv2d(v[0], v[1].slice(0, 0, 4).slice(1, 0, 3), v[2].slice(0, 0, 4), conv_args(1, 1));
      },
      {x, w_full, b_full});
  // a depthwise slice: the first 3 channels of a 5-channel depthwise weight
  check_grad(
      [](const Vars& v) { return conv2d(v[0], v[1].slice(0, 0, 3), std::nullopt, conv_args(1, 1, 1, 3)); },
      {x, uniform_tensor({5, 1, 3, 3}, 14, DType::f64)});
}

TEST_CASE("conv2d: two widths' gradients accumulate into their regions of one weight") {
  Variable W(uniform_tensor({6, 5, 3, 3}, 15, DType::f64), true);
  Tensor x_wide = uniform_tensor({2, 5, 4, 4}, 16, DType::f64),
         x_narrow = uniform_tensor({2, 3, 4, 4}, 17, DType::f64);
  Tensor r_wide = uniform_tensor({2, 6, 4, 4}, 18, DType::f64),
         r_narrow = uniform_tensor({2, 4, 4, 4}, 19, DType::f64);
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
