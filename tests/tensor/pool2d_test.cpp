// Pooling kernels against PyTorch goldens (tests/fixtures/pool2d.txt): max pooling with indices,
// average pooling counting padding, adaptive average pooling with PyTorch's bins; forward and
// backward in float32 and float64; bad arguments rejected.
#include <doctest/doctest.h>

#include "tensor/ops.h"
#include "tests/fixtures/fixtures.h"

using namespace mn;
using mn::test::check_close;
using mn::test::tol;

namespace {
Pool2dArgs args_of(const test::FixtureCase& c) {
  const int k = c.iparam("kernel"), s = c.iparam("stride"), p = c.iparam("pad");
  return Pool2dArgs{k, k, s, s, p, p};
}
}  // namespace

TEST_CASE("max and average pooling match PyTorch") {
  for (const auto& c : test::load_fixture("pool2d")) {
    if (c.has("indices") || !c.params.count("kernel")) continue;
    for (DType dt : {DType::f32, DType::f64}) {
      const std::string what = c.name + " " + dtype_name(dt);
      Tensor x = c.tensor("x", dt);
      check_close(ops::avgpool2d_forward(x, args_of(c)), c.tensor("y"), tol(dt), tol(dt), what + " y");
      check_close(ops::avgpool2d_backward(c.tensor("dy", dt), x.shape(), args_of(c)), c.tensor("dx"),
                  tol(dt), tol(dt), what + " dx");
    }
  }
  for (const auto& c : test::load_fixture("pool2d")) {
    if (!c.has("indices")) continue;
    for (DType dt : {DType::f32, DType::f64}) {
      const std::string what = c.name + " " + dtype_name(dt);
      Tensor x = c.tensor("x", dt);
      auto out = ops::maxpool2d_forward(x, args_of(c));
      check_close(out.y, c.tensor("y"), tol(dt), tol(dt), what + " y");
      CHECK(out.indices.to_vector<int64_t>() == c.tensor("indices", DType::i64).to_vector<int64_t>());
      check_close(ops::maxpool2d_backward(c.tensor("dy", dt), out.indices, x.shape()),
                  c.tensor("dx"), tol(dt), tol(dt), what + " dx");
    }
  }
}

TEST_CASE("adaptive average pooling matches PyTorch, including output larger than input") {
  int cases = 0;
  for (const auto& c : test::load_fixture("pool2d")) {
    if (!c.params.count("out_h")) continue;
    ++cases;
    for (DType dt : {DType::f32, DType::f64}) {
      const std::string what = c.name + " " + dtype_name(dt);
      Tensor x = c.tensor("x", dt);
      check_close(ops::adaptive_avgpool2d_forward(x, c.iparam("out_h"), c.iparam("out_w")),
                  c.tensor("y"), tol(dt), tol(dt), what + " y");
      check_close(ops::adaptive_avgpool2d_backward(c.tensor("dy", dt), x.shape()), c.tensor("dx"),
                  tol(dt), tol(dt), what + " dx");
    }
  }
  CHECK(cases == 3);
}

TEST_CASE("pooling reads non-contiguous input") {
  const auto cases = test::load_fixture("pool2d");
  const auto& c = cases.front();
  Tensor x = test::strided(c.tensor("x"));
  check_close(ops::maxpool2d_forward(x, args_of(c)).y, c.tensor("y"), 1e-12, 1e-12, "max");
}

TEST_CASE("pooling rejects bad arguments") {
  Tensor x = Tensor::zeros({2, 3, 8, 8});
  CHECK_THROWS_WITH_AS(ops::maxpool2d_forward(x, Pool2dArgs{3, 3, 2, 2, 2, 2}),
                       "max_pool2d: padding (2, 2) must be between 0 and half the kernel (3, 3)",
                       Error);
  CHECK_THROWS_WITH_AS(ops::avgpool2d_forward(x, Pool2dArgs{9, 9, 1, 1, 0, 0}),
                       "avg_pool2d: input (2, 3, 8, 8) padded by (0, 0) is smaller than the "
                       "kernel (9, 9)", Error);
  CHECK_THROWS_WITH_AS(ops::avgpool2d_forward(x, Pool2dArgs{2, 2, 0, 2, 0, 0}),
                       "avg_pool2d: kernel (2, 2) and stride (0, 2) must be >= 1", Error);
  Tensor x3 = Tensor::zeros({3, 8, 8});
  CHECK_THROWS_WITH_AS(ops::maxpool2d_forward(x3, Pool2dArgs{2, 2, 2, 2, 0, 0}),
                       "max_pool2d: input must be 4-D (N, C, H, W), got (3, 8, 8)", Error);
  CHECK_THROWS_WITH_AS(ops::adaptive_avgpool2d_forward(x, 0, 1),
                       "adaptive_avg_pool2d: output size (0, 1) must be positive", Error);
  Tensor dy = Tensor::zeros({2, 3, 3, 3});
  CHECK_THROWS_WITH_AS(ops::avgpool2d_backward(dy, x.shape(), Pool2dArgs{2, 2, 2, 2, 0, 0}),
                       "avg_pool2d backward: output gradient (2, 3, 3, 3) does not match the "
                       "output (2, 3, 4, 4) of input (2, 3, 8, 8)", Error);
  Tensor idx = Tensor::zeros({2, 3, 3, 3}, DType::i64), dy4 = Tensor::zeros({2, 3, 4, 4});
  CHECK_THROWS_WITH_AS(ops::maxpool2d_backward(dy4, idx, x.shape()),
                       "max_pool2d backward: output gradient (2, 3, 4, 4) does not match the "
                       "output (2, 3, 3, 3) of input (2, 3, 8, 8)", Error);
}
