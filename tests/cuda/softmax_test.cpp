// CUDA softmax / log-softmax against the CPU over short rows (a warp each), long rows (a block
// each), large logits (the max shift), 3-D inputs; forward and backward.
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

TEST_CASE("cuda: softmax and log-softmax match the CPU") {
  if (!test::gpu_or_skip()) return;
  struct Case {
    Shape x;
    double scale;
  };
  const Case cases[] = {{{4, 7}, 1.0}, {{128, 100}, 3.0}, {{3, 5}, 300.0}, {{2, 3, 4}, 1.0},
                        {{16, 1000}, 5.0}, {{5, 5000}, 2.0}, {{1, 1}, 1.0}};
  for (const Case& c : cases) {
    for (bool log : {false, true}) {
      const std::string what = shape_str(c.x) + cat(" scale ", c.scale, log ? " log_softmax" : " softmax");
      Tensor x = test::normal_tensor(c.x, 111, DType::f32, c.scale);
      Tensor y = ops::softmax_forward(x, log);
      Tensor yg = ops::softmax_forward(x.to(gpu()), log);
      test::check_gpu_close(yg, y, 1e-5, log ? 1e-4 : 1e-7, what + " y");
      Tensor dy = test::normal_tensor(c.x, 112);
      test::check_gpu_close(ops::softmax_backward(yg, dy.to(gpu()), log), ops::softmax_backward(y, dy, log),
                            1e-4, 1e-6, what + " dx");
    }
  }
}
