// CUDA pooling against the CPU: max (values and argmax indices, ties, padding), average (padding
// counted) and adaptive average (global, uneven bins, upsampling bins), forward and backward.
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

namespace {

Pool2dArgs pool(int k, int s, int p) {
  Pool2dArgs a;
  a.kernel_h = a.kernel_w = k;
  a.stride_h = a.stride_w = s;
  a.pad_h = a.pad_w = p;
  return a;
}

}  // namespace

TEST_CASE("cuda: max and average pooling match the CPU") {
  if (!test::gpu_or_skip()) return;
  struct Case {
    Shape x;
    Pool2dArgs a;
  };
  const Case cases[] = {{{2, 3, 7, 8}, pool(3, 2, 1)}, {{2, 2, 6, 5}, pool(2, 2, 0)},
                        {{4, 16, 32, 32}, pool(3, 1, 1)}, {{8, 64, 112, 112}, pool(3, 2, 1)}};
  for (const Case& c : cases) {
    const std::string what = shape_str(c.x) + cat(" k", c.a.kernel_h, " s", c.a.stride_h, " p", c.a.pad_h);
    // Clamping makes many values exactly +-1, so windows hold ties: the first must win on both.
    Tensor x = ops::clamp(test::normal_tensor(c.x, 81, DType::f32, 2.0), -1, 1);
    Tensor xg = x.to(gpu());
    auto mc = ops::maxpool2d_forward(x, c.a);
    auto mg = ops::maxpool2d_forward(xg, c.a);
    test::check_gpu_equal(mg.y, mc.y, what + " max y");
    test::check_gpu_equal(mg.indices, mc.indices, what + " max indices");
    Tensor dy = test::normal_tensor(mc.y.shape(), 82);
    test::check_gpu_close(ops::maxpool2d_backward(dy.to(gpu()), mg.indices, c.x),
                          ops::maxpool2d_backward(dy, mc.indices, c.x), 1e-6, 1e-6, what + " max dx");
    test::check_gpu_close(ops::avgpool2d_forward(xg, c.a), ops::avgpool2d_forward(x, c.a), 1e-5, 1e-6,
                          what + " avg y");
    test::check_gpu_close(ops::avgpool2d_backward(dy.to(gpu()), c.x, c.a),
                          ops::avgpool2d_backward(dy, c.x, c.a), 1e-5, 1e-6, what + " avg dx");
  }
}

TEST_CASE("cuda: adaptive average pooling matches the CPU") {
  if (!test::gpu_or_skip()) return;
  struct Case {
    Shape x;
    int64_t oh, ow;
  };
  const Case cases[] = {{{128, 640, 8, 8}, 1, 1}, {{2, 3, 7, 9}, 3, 4}, {{1, 2, 4, 5}, 6, 7}, {{4, 8, 7, 7}, 1, 1}};
  for (const Case& c : cases) {
    const std::string what = shape_str(c.x) + cat(" -> ", c.oh, "x", c.ow);
    Tensor x = test::normal_tensor(c.x, 83);
    Tensor y = ops::adaptive_avgpool2d_forward(x, c.oh, c.ow);
    test::check_gpu_close(ops::adaptive_avgpool2d_forward(x.to(gpu()), c.oh, c.ow), y, 1e-5, 1e-6,
                          what + " y");
    Tensor dy = test::normal_tensor(y.shape(), 84);
    test::check_gpu_close(ops::adaptive_avgpool2d_backward(dy.to(gpu()), c.x),
                          ops::adaptive_avgpool2d_backward(dy, c.x), 1e-5, 1e-6, what + " dx");
  }
}
