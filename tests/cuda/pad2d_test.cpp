// CUDA zero / reflect padding against the CPU, forward and backward, including the CIFAR
// augmentation's reflect-4 and asymmetric pads.
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

TEST_CASE("cuda: pad2d matches the CPU, forward and backward") {
  if (!test::gpu_or_skip()) return;
  struct Case {
    Shape x;
    Pad2d pad;
    PadMode mode;
  };
  const Case cases[] = {{{2, 3, 5, 6}, {1, 2, 0, 3}, PadMode::zero},
                        {{2, 3, 5, 6}, {2, 1, 3, 0}, PadMode::reflect},
                        {{2, 3, 5, 6}, {4, 4, 4, 4}, PadMode::reflect},
                        {{128, 3, 32, 32}, {4, 4, 4, 4}, PadMode::reflect},
                        {{16, 8, 9, 9}, {1, 1, 1, 1}, PadMode::zero}};
  for (const Case& c : cases) {
    const std::string what = shape_str(c.x) + cat(" pad ", c.pad.left, c.pad.right, c.pad.top, c.pad.bottom,
                                                  c.mode == PadMode::zero ? " zero" : " reflect");
    Tensor x = test::normal_tensor(c.x, 101);
    Tensor y = ops::pad2d_forward(x, c.pad, c.mode);
    test::check_gpu_equal(ops::pad2d_forward(x.to(gpu()), c.pad, c.mode), y, what + " y");
    Tensor dy = test::normal_tensor(y.shape(), 102);
    test::check_gpu_close(ops::pad2d_backward(dy.to(gpu()), c.x, c.pad, c.mode),
                          ops::pad2d_backward(dy, c.x, c.pad, c.mode), 1e-6, 1e-6, what + " dx");
  }
}
