// CUDA batch norm against the CPU: training (batch statistics, saved mean / invstd, running
// statistics updated in place through prefix views of full-width buffers, as a sub-network does)
// and eval (running statistics), forward and backward, over shapes from 1x1 planes to many images;
// the fused ReLU and synchronized batch norm's phases against the CPU and against the composed
// defaults (Backend's, built from other ops) that their kernels replace.
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

TEST_CASE("cuda: the fused ReLU and phase kernels against the composed defaults they replace") {
  // Backend's defaults are built from other CUDA ops (relu, relu_backward into a masked copy of
  // dy, reductions): the fused float32 kernels do the unfused kernels' arithmetic, so their
  // results are the composed path's; the phases' sums differ only in summation order.
  if (!test::gpu_or_skip()) return;
  Backend& be = backend(gpu());
  const Shape s{8, 12, 5, 7};
  const int64_t C = 12;
  Tensor x = ops::add_scalar(test::normal_tensor(s, 131, DType::f32), 0.3).to(gpu());
  Tensor dy = test::normal_tensor(s, 132).to(gpu());
  Tensor gamma = test::normal_tensor({C}, 133).to(gpu()), beta = test::normal_tensor({C}, 134).to(gpu());
  auto per_channel = [&] { return Tensor::empty({C}, DType::f32, gpu()); };
  for (bool training : {true, false}) {
    const std::string what = training ? "training" : "eval";
    Tensor rm = Tensor::zeros({C}, DType::f32, gpu()), rv = Tensor::ones({C}, DType::f32, gpu());
    Tensor rm2 = rm.clone(), rv2 = rv.clone();
    auto fused = ops::batchnorm_forward(x, gamma, beta, rm, rv, training, 0.1, 1e-5, true);
    Tensor y = Tensor::empty(s, DType::f32, gpu()), mean = per_channel(), invstd = per_channel();
    be.Backend::batchnorm_relu_forward(x, gamma, beta, rm2, rv2, training, 0.1, 1e-5, y, mean, invstd);
    test::check_gpu_equal(fused.y, y, what + " y");
    test::check_gpu_equal(fused.save_mean, mean, what + " saved mean");
    test::check_gpu_equal(fused.save_invstd, invstd, what + " saved invstd");
    test::check_gpu_equal(rm, rm2, what + " running mean");
    test::check_gpu_equal(rv, rv2, what + " running var");

    auto g = ops::batchnorm_backward(dy, x, gamma, fused.save_mean, fused.save_invstd, training, fused.y);
    Tensor dx = Tensor::empty(s, DType::f32, gpu()), dgamma = per_channel(), dbeta = per_channel();
    be.Backend::batchnorm_relu_backward(dy, x, fused.y, gamma, fused.save_mean, fused.save_invstd, training, dx,
                                        dgamma, dbeta);
    test::check_gpu_close_scaled(g.dx, dx, 1e-6, what + " dx");
    test::check_gpu_close_scaled(g.dgamma, dgamma, 1e-6, what + " dgamma");
    test::check_gpu_close_scaled(g.dbeta, dbeta, 1e-6, what + " dbeta");
  }

  const ops::BatchNormStats stats = ops::batchnorm_stats(x);
  Tensor mean = per_channel(), var = per_channel();
  be.Backend::batchnorm_stats(x, mean, var);
  test::check_gpu_close(stats.mean, mean, 1e-5, 1e-6, "phases: mean");
  test::check_gpu_close(stats.var, var, 1e-5, 1e-6, "phases: var");
  const Tensor invstd = ops::add_scalar(ops::abs(test::normal_tensor({C}, 135)), 0.5).to(gpu());
  const Tensor relu_y = ops::relu(test::normal_tensor(s, 136)).to(gpu());
  for (bool relu : {true, false}) {
    const std::string what = relu ? "phases with ReLU" : "phases without ReLU";
    const Tensor mask = relu ? relu_y : Tensor();
    const ops::BatchNormSums sums = ops::batchnorm_backward_reduce(dy, x, mask, stats.mean);
    Tensor sum_g = per_channel(), sum_gx = per_channel();
    be.Backend::batchnorm_backward_reduce(dy, x, mask, stats.mean, sum_g, sum_gx);
    test::check_gpu_close_scaled(sums.sum_g, sum_g, 1e-5, what + " sum_g");
    test::check_gpu_close_scaled(sums.sum_gx, sum_gx, 1e-5, what + " sum_gx");
    const double count = 8 * 5 * 7;
    const Tensor dx = ops::batchnorm_backward_apply(dy, x, mask, stats.mean, invstd, gamma, sums, count);
    Tensor dx_default = Tensor::empty(s, DType::f32, gpu());
    be.Backend::batchnorm_backward_apply(dy, x, mask, stats.mean, invstd, gamma, sums.sum_g, sums.sum_gx, count,
                                         dx_default);
    test::check_gpu_close_scaled(dx, dx_default, 1e-5, what + " dx");
  }
}
