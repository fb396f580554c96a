// cast: the mixed-precision hinge (autograd/cast.cpp), checked on the CPU between float64 and
// float32 (bfloat16 is a GPU dtype; tests/cuda/bf16_test.cpp covers it): a master weight's slice
// cast to the compute dtype sends its gradient, cast back, into the master gradient's region.
#include "tests/common/test_util.h"

using namespace mn;
using namespace mn::test;

TEST_CASE("cast: same dtype is the input itself, nothing recorded") {
  Variable x(Tensor::ones({3}), true);
  Variable y = cast(x, DType::f32);
  CHECK(y.impl() == x.impl());
}

TEST_CASE("cast: the gradient of a cast slice lands, in the master's dtype, in the master slice") {
  Variable master(uniform_tensor({6, 4}, 1, DType::f64), true);
  Variable compute = cast(master.slice(0, 0, 3).slice(1, 0, 2), DType::f32);
  CHECK(compute.dtype() == DType::f32);
  check_close(compute.data(), master.data().slice(0, 0, 3).slice(1, 0, 2), 1e-7, 0, "values");
  Variable loss = sum(mul(compute, compute));  // d/dw = 2w
  loss.backward();
  REQUIRE(master.grad().defined());
  CHECK(master.grad().dtype() == DType::f64);
  Tensor expected = Tensor::zeros({6, 4}, DType::f64);
  expected.slice(0, 0, 3).slice(1, 0, 2).copy_(ops::scale(master.data().slice(0, 0, 3).slice(1, 0, 2), 2));
  check_close(master.grad(), expected, 1e-6, 0, "master gradient");
  // A second sub-network's gradient accumulates into the same master gradient.
  sum(cast(master.slice(0, 0, 2), DType::f32)).backward();
  expected.slice(0, 0, 2).copy_(ops::add_scalar(expected.slice(0, 0, 2), 1));
  check_close(master.grad(), expected, 1e-6, 0, "accumulated master gradient");
}

TEST_CASE("cast refuses integer dtypes") {
  Variable x(Tensor::ones({3}), true);
  CHECK_THROWS_WITH_AS(cast(x, DType::i64), "cast: float32 -> int64 is not a conversion between floating dtypes",
                       Error);
}
