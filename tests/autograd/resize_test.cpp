// Bilinear resize autograd: gradchecks (float64) for both corner alignments, up and down.
#include "tests/common/test_util.h"

using namespace mn;
using namespace mn::test;

TEST_CASE("gradcheck: bilinear resize, both corner alignments, up and down") {
  Tensor x = uniform_tensor({1, 2, 5, 4}, 2, DType::f64);
  for (bool align : {true, false}) {
    INFO("align_corners ", align);
    check_grad([=](const Vars& v) { return resize_bilinear(v[0], 8, 7, align); }, {x});
    check_grad([=](const Vars& v) { return resize_bilinear(v[0], 3, 2, align); }, {strided(x)});
    check_grad([=](const Vars& v) { return resize_bilinear(v[0], 1, 3, align); }, {x});
  }
}

TEST_CASE("resize_bilinear rejects non-image input") {
  Variable x(Tensor::zeros({4, 4}), true);
  CHECK_THROWS_WITH_AS(resize_bilinear(x, 2, 2, true),
                       "resize_bilinear: input must be 4-D (N, C, H, W), got (4, 4)", Error);
}
