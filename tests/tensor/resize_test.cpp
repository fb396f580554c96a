// Bilinear resize against PyTorch's F.interpolate(mode='bilinear') goldens
// (tests/fixtures/resize.txt): align_corners true and false, up, down, same size, a single output
// pixel, and MutualNet's 32 -> 20; forward and backward, float32 and float64.
#include <doctest/doctest.h>

#include "tensor/ops.h"
#include "tests/fixtures/fixtures.h"

using namespace mn;
using mn::test::check_close;
using mn::test::tol;

TEST_CASE("bilinear resize matches PyTorch for both corner alignments") {
  int cases = 0;
  for (const auto& c : test::load_fixture("resize")) {
    ++cases;
    for (DType dt : {DType::f32, DType::f64}) {
      const std::string what = c.name + " " + dtype_name(dt);
      const bool align = c.iparam("align_corners");
      Tensor x = c.tensor("x", dt);
      check_close(ops::resize_bilinear_forward(x, c.iparam("out_h"), c.iparam("out_w"), align),
                  c.tensor("y"), tol(dt), tol(dt), what + " y");
      check_close(ops::resize_bilinear_backward(c.tensor("dy", dt), x.shape(), align),
                  c.tensor("dx"), tol(dt), tol(dt), what + " dx");
    }
  }
  CHECK(cases == 10);
}

TEST_CASE("bilinear resize to the same size is the identity") {
  Tensor x = Tensor::arange(24).to(DType::f32).view({1, 2, 3, 4});
  for (bool align : {true, false})
    check_close(ops::resize_bilinear_forward(x, 3, 4, align), x, 0, 0, "identity");
}

TEST_CASE("bilinear resize rejects bad sizes") {
  Tensor x = Tensor::zeros({1, 2, 4, 4});
  CHECK_THROWS_WITH_AS(ops::resize_bilinear_forward(x, 0, 3, true),
                       "resize_bilinear: output size (0, 3) must be positive", Error);
  Tensor x3 = Tensor::zeros({2, 4, 4});
  CHECK_THROWS_WITH_AS(ops::resize_bilinear_forward(x3, 2, 2, true),
                       "resize_bilinear: input must be 4-D (N, C, H, W), got (2, 4, 4)", Error);
  Tensor dy = Tensor::zeros({1, 3, 2, 2});
  CHECK_THROWS_WITH_AS(ops::resize_bilinear_backward(dy, x.shape(), true),
                       "resize_bilinear backward: output gradient (1, 3, 2, 2) does not fit input "
                       "(1, 2, 4, 4)", Error);
}
