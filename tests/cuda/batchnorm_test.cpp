// CUDA batch norm against the CPU: training (batch statistics, saved mean / invstd, running
// statistics updated in place through prefix views of full-width buffers, as a sub-network does)
// and eval (running statistics), forward and backward, over shapes from 1x1 planes to many images.
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

TEST_CASE("cuda: batch norm matches the CPU in training and eval, forward and backward") {
  if (!test::gpu_or_skip()) return;
  const Shape shapes[] = {{4, 3, 5, 4}, {6, 2, 1, 1}, {32, 24, 8, 8}, {128, 16, 20, 20}, {3, 40, 7, 7}};
  for (const Shape& s : shapes) {
    for (bool training : {true, false}) {
      const std::string what = shape_str(s) + (training ? " training" : " eval");
      const int64_t C = s[1], full = C + 5;  // per-channel tensors are prefixes of full-width ones
      Tensor x = ops::add_scalar(test::normal_tensor(s, 71, DType::f32, 2.0), 0.5);
      Tensor gamma = test::normal_tensor({full}, 72), beta = test::normal_tensor({full}, 73);
      Tensor rm = test::normal_tensor({full}, 74),
             rv = ops::add_scalar(ops::abs(test::normal_tensor({full}, 75)), 0.5);
      Tensor rm_g = rm.to(gpu()), rv_g = rv.to(gpu());
      auto prefix = [&](const Tensor& t) { return t.slice(0, 0, C); };
      auto cpu = ops::batchnorm_forward(x, prefix(gamma), prefix(beta), prefix(rm), prefix(rv), training, 0.1, 1e-5);
      auto gpu_out = ops::batchnorm_forward(x.to(gpu()), prefix(gamma.to(gpu())), prefix(beta.to(gpu())),
                                            prefix(rm_g), prefix(rv_g), training, 0.1, 1e-5);
      test::check_gpu_close(gpu_out.y, cpu.y, 1e-4, 1e-4, what + " y");
      test::check_gpu_close(gpu_out.save_mean, cpu.save_mean, 1e-5, 1e-5, what + " saved mean");
      test::check_gpu_close(gpu_out.save_invstd, cpu.save_invstd, 1e-4, 0, what + " saved invstd");
      test::check_gpu_close(rm_g, rm, 1e-5, 1e-6, what + " running mean (full buffer)");
      test::check_gpu_close(rv_g, rv, 1e-4, 1e-6, what + " running var (full buffer)");

      Tensor dy = test::normal_tensor(s, 76);
      auto gc = ops::batchnorm_backward(dy, x, prefix(gamma), cpu.save_mean, cpu.save_invstd, training);
      auto gg = ops::batchnorm_backward(dy.to(gpu()), x.to(gpu()), prefix(gamma.to(gpu())), gpu_out.save_mean,
                                        gpu_out.save_invstd, training);
      test::check_gpu_close_scaled(gg.dx, gc.dx, 1e-4, what + " dx");
      test::check_gpu_close_scaled(gg.dgamma, gc.dgamma, 1e-4, what + " dgamma");
      test::check_gpu_close_scaled(gg.dbeta, gc.dbeta, 1e-5, what + " dbeta");
    }
  }
}

TEST_CASE("cuda: batch norm fused with a ReLU matches the CPU's fused pass") {
  if (!test::gpu_or_skip()) return;
  for (bool training : {true, false}) {
    const std::string what = training ? "training" : "eval";
    const Shape s{32, 24, 8, 8};
    Tensor x = ops::add_scalar(test::normal_tensor(s, 91, DType::f32), 0.3), dy = test::normal_tensor(s, 92);
    Tensor gamma = test::normal_tensor({24}, 93), beta = test::normal_tensor({24}, 94);
    Tensor rm = Tensor::zeros({24}), rv = Tensor::ones({24}), rm_g = rm.to(gpu()), rv_g = rv.to(gpu());
    auto cpu = ops::batchnorm_forward(x, gamma, beta, rm, rv, training, 0.1, 1e-5, true);
    auto gpu_out = ops::batchnorm_forward(x.to(gpu()), gamma.to(gpu()), beta.to(gpu()), rm_g, rv_g,
                                          training, 0.1, 1e-5, true);
    test::check_gpu_close(gpu_out.y, cpu.y, 1e-4, 1e-4, what + " y");
    auto gc = ops::batchnorm_backward(dy, x, gamma, cpu.save_mean, cpu.save_invstd, training, cpu.y);
    auto gg = ops::batchnorm_backward(dy.to(gpu()), x.to(gpu()), gamma.to(gpu()), gpu_out.save_mean,
                                      gpu_out.save_invstd, training, gpu_out.y);
    test::check_gpu_close_scaled(gg.dx, gc.dx, 1e-4, what + " dx");
    test::check_gpu_close_scaled(gg.dgamma, gc.dgamma, 1e-4, what + " dgamma");
    test::check_gpu_close_scaled(gg.dbeta, gc.dbeta, 1e-5, what + " dbeta");
  }
}

TEST_CASE("cuda: batch norm in phases (synchronized batch norm) matches the CPU") {
  if (!test::gpu_or_skip()) return;
  const Shape s{16, 24, 8, 8};
  Tensor x = ops::add_scalar(test::normal_tensor(s, 111, DType::f32), 0.3), dy = test::normal_tensor(s, 112);
  Tensor gamma = test::normal_tensor({24}, 113), invstd = ops::add_scalar(ops::abs(test::normal_tensor({24}, 114)), 0.5);
  Tensor relu_y = ops::relu(test::normal_tensor(s, 115));
  const ops::BatchNormStats c = ops::batchnorm_stats(x), g = ops::batchnorm_stats(x.to(gpu()));
  test::check_gpu_close(g.mean, c.mean, 1e-5, 1e-5, "mean");
  test::check_gpu_close(g.var, c.var, 1e-4, 1e-5, "var");
  const ops::BatchNormSums cs = ops::batchnorm_backward_reduce(dy, x, relu_y, c.mean);
  const ops::BatchNormSums gs = ops::batchnorm_backward_reduce(dy.to(gpu()), x.to(gpu()), relu_y.to(gpu()), c.mean.to(gpu()));
  test::check_gpu_close_scaled(gs.sum_g, cs.sum_g, 1e-4, "sum_g");
  test::check_gpu_close_scaled(gs.sum_gx, cs.sum_gx, 1e-4, "sum_gx");
  const Tensor dx = ops::batchnorm_backward_apply(dy, x, relu_y, c.mean, invstd, gamma, cs, 2048);
  const Tensor dx_g = ops::batchnorm_backward_apply(dy.to(gpu()), x.to(gpu()), relu_y.to(gpu()), c.mean.to(gpu()),
                                                    invstd.to(gpu()), gamma.to(gpu()),
                                                    {cs.sum_g.to(gpu()), cs.sum_gx.to(gpu())}, 2048);
  test::check_gpu_close_scaled(dx_g, dx, 1e-4, "dx");
}
