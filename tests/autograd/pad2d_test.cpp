// Padding autograd: gradchecks (float64) of zero and reflect padding.
#include "tests/common/test_util.h"

using namespace mn;
using namespace mn::test;

TEST_CASE("gradcheck: zero and reflect padding") {
  Tensor x = uniform_tensor({2, 2, 4, 5}, 3, DType::f64);
  check_grad([](const Vars& v) { return pad2d(v[0], Pad2d{1, 2, 0, 3}, PadMode::zero); }, {x});
  check_grad([](const Vars& v) { return pad2d(v[0], Pad2d{2, 4, 3, 1}, PadMode::reflect); }, {x});
  check_grad([](const Vars& v) { return pad2d(v[0], Pad2d{1, 1, 1, 1}, PadMode::reflect); }, {strided(x)});
}

TEST_CASE("pad2d rejects reflection wider than the image") {
  Variable x(Tensor::zeros({1, 1, 2, 2}), true);
  CHECK_THROWS_WITH_AS(pad2d(x, Pad2d{2, 0, 0, 0}, PadMode::reflect),
                       "pad2d: reflect padding (left 2, right 0, top 0, bottom 0) must be smaller than "
                       "the input plane (2, 2)", Error);
}
