// Zero and reflect padding against PyTorch's F.pad goldens (tests/fixtures/pad2d.txt), forward
// and backward; uint8 images pad too; bad padding rejected.
#include <doctest/doctest.h>

#include "tensor/ops.h"
#include "tests/fixtures/fixtures.h"

using namespace mn;
using mn::test::check_close;
using mn::test::tol;

TEST_CASE("pad2d matches PyTorch for zero and reflect padding") {
  for (const auto& c : test::load_fixture("pad2d")) {
    for (DType dt : {DType::f32, DType::f64}) {
      const std::string what = c.name + " " + dtype_name(dt);
      const Pad2d pad{c.iparam("left"), c.iparam("right"), c.iparam("top"), c.iparam("bottom")};
      const PadMode mode = c.iparam("reflect") ? PadMode::reflect : PadMode::zero;
      Tensor x = c.tensor("x", dt);
      check_close(ops::pad2d_forward(x, pad, mode), c.tensor("y"), tol(dt), tol(dt), what + " y");
      check_close(ops::pad2d_backward(c.tensor("dy", dt), x.shape(), pad, mode), c.tensor("dx"),
                  tol(dt), tol(dt), what + " dx");
    }
  }
}

TEST_CASE("pad2d reflects uint8 images") {
  // one row 1 2 3, reflect by 2 on the left and 1 on the right: 3 2 1 2 3 2
  Tensor x = Tensor::from_vector<uint8_t>({1, 2, 3}, {1, 1, 1, 3});
  Tensor y = ops::pad2d_forward(x, Pad2d{2, 1, 0, 0}, PadMode::reflect);
  CHECK(y.dtype() == DType::u8);
  CHECK(y.to_vector<uint8_t>() == std::vector<uint8_t>{3, 2, 1, 2, 3, 2});
}

TEST_CASE("pad2d rejects bad padding") {
  Tensor x = Tensor::zeros({1, 1, 3, 4});
  CHECK_THROWS_WITH_AS(ops::pad2d_forward(x, Pad2d{1, 1, 3, 0}, PadMode::reflect),
                       "pad2d: reflect padding (left 1, right 1, top 3, bottom 0) must be smaller "
                       "than the input plane (3, 4)", Error);
  CHECK_THROWS_WITH_AS(ops::pad2d_forward(x, Pad2d{-1, 0, 0, 0}, PadMode::zero),
                       "pad2d: padding (left -1, right 0, top 0, bottom 0) must be >= 0", Error);
  Tensor dy = Tensor::zeros({1, 1, 3, 4});
  CHECK_THROWS_WITH_AS(ops::pad2d_backward(dy, x.shape(), Pad2d{1, 0, 0, 0}, PadMode::zero),
                       "pad2d backward: output gradient (1, 1, 3, 4) does not match the output "
                       "(1, 1, 3, 5) of input (1, 1, 3, 4)", Error);
}
