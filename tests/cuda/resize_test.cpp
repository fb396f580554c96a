// CUDA bilinear resize against the CPU, both coordinate conventions: MutualNet's downscales
// (32 -> 28, 24, 20 with align_corners, as the public code), up, same size, to a single row.
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

TEST_CASE("cuda: bilinear resize matches the CPU, forward and backward") {
  if (!test::gpu_or_skip()) return;
  struct Case {
    Shape x;
    int64_t oh, ow;
  };
  const Case cases[] = {{{128, 3, 32, 32}, 28, 28}, {{128, 3, 32, 32}, 24, 24}, {{128, 3, 32, 32}, 20, 20},
                        {{2, 3, 5, 6}, 9, 11},      {{2, 3, 9, 11}, 4, 5},      {{1, 2, 4, 4}, 4, 4},
                        {{1, 2, 5, 4}, 1, 3},       {{4, 3, 224, 224}, 160, 128}};
  for (bool align : {true, false}) {
    for (const Case& c : cases) {
      const std::string what = shape_str(c.x) + cat(" -> ", c.oh, "x", c.ow, align ? " align" : " no-align");
      Tensor x = test::normal_tensor(c.x, 91);
      Tensor y = ops::resize_bilinear_forward(x, c.oh, c.ow, align);
      test::check_gpu_close(ops::resize_bilinear_forward(x.to(gpu()), c.oh, c.ow, align), y, 1e-5, 1e-5,
                            what + " y");
      Tensor dy = test::normal_tensor(y.shape(), 92);
      test::check_gpu_close(ops::resize_bilinear_backward(dy.to(gpu()), c.x, align),
                            ops::resize_bilinear_backward(dy, c.x, align), 1e-5, 1e-5, what + " dx");
    }
  }
}
