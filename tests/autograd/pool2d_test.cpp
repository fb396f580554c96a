// Pooling autograd: gradchecks (float64) of max, average and adaptive average pooling, strided
// inputs included.
#include "tests/common/test_util.h"

using namespace mn;
using namespace mn::test;

TEST_CASE("gradcheck: pooling") {
  Tensor x = uniform_tensor({2, 2, 5, 6}, 1, DType::f64);
  check_grad([](const Vars& v) { return max_pool2d(v[0], Pool2dArgs{3, 3, 2, 2, 1, 1}); }, {x});
  check_grad([](const Vars& v) { return max_pool2d(v[0], Pool2dArgs{2, 2, 2, 2, 0, 0}); }, {strided(x)});
  check_grad([](const Vars& v) { return avg_pool2d(v[0], Pool2dArgs{3, 3, 2, 2, 1, 1}); }, {x});
  check_grad([](const Vars& v) { return avg_pool2d(v[0], Pool2dArgs{2, 3, 1, 2, 1, 0}); }, {strided(x)});
  check_grad([](const Vars& v) { return adaptive_avg_pool2d(v[0], 3, 4); }, {x});
  check_grad([](const Vars& v) { return adaptive_avg_pool2d(v[0], 1, 1); }, {x});
  check_grad([](const Vars& v) { return adaptive_avg_pool2d(v[0], 7, 8); }, {strided(x)});
}

TEST_CASE("pooling ops reject bad windows") {
  Variable x(Tensor::zeros({1, 2, 4, 4}), true);
  CHECK_THROWS_WITH_AS(max_pool2d(x, Pool2dArgs{2, 2, 2, 2, 2, 0}),
                       "max_pool2d: padding (2, 0) must be between 0 and half the kernel (2, 2)", Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(x, 2, 0),
                       "adaptive_avg_pool2d: output size (2, 0) must be positive", Error);
}
