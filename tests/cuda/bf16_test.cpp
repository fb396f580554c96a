// bfloat16 on the GPU (precision = "bf16") against the CPU's float32 ops: every op a model's forward
// and backward run on bf16 activations (cast, elementwise, row sums, conv, GEMM, batch norm with
// its fused ReLU and synchronized phases, pooling, resize, pad). Inputs are rounded to bf16 once
// and the CPU gets those same values in float32, so what is compared is the GPU's arithmetic:
// float32 accumulation, then one rounding of the result to bf16 (2^-9 relative). Bounds are 1e-2
// relative, scaled by the largest value for results of long sums.
#include "autograd/functions.h"
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

namespace {

constexpr double kTol = 1e-2;

// x rounded to bfloat16 on the GPU, and the same values as a float32 CPU tensor.
struct Pair {
  Tensor gpu, cpu;
};

Pair bf16_pair(const Tensor& x) {
  Tensor g = x.to(gpu()).to(DType::bf16);
  return {g, g.to(DType::f32).to(Device::cpu())};
}

Pair normal_pair(const Shape& s, uint64_t seed, double std = 1) {
  return bf16_pair(test::normal_tensor(s, seed, DType::f32, std));
}

void check_bf16(const Tensor& g, const Tensor& c, const std::string& what) {
  CHECK_MESSAGE(g.dtype() == DType::bf16, what);
  test::check_gpu_close(g, c, kTol, 1e-6, what);
}

void check_bf16_scaled(const Tensor& g, const Tensor& c, const std::string& what) {
  CHECK_MESSAGE(g.dtype() == DType::bf16, what);
  test::check_gpu_close_scaled(g, c, kTol, what);
}

// A bf16 batch-norm backward on the GPU against the CPU's: dx in bf16, the parameter gradients in
// float32.
void check_bn_grads(const ops::BatchNormGrads& gpu_grads, const ops::BatchNormGrads& cpu_grads,
                    const std::string& what) {
  check_bf16_scaled(gpu_grads.dx, cpu_grads.dx, what + " dx");
  CHECK(gpu_grads.dgamma.dtype() == DType::f32);
  test::check_gpu_close_scaled(gpu_grads.dgamma, cpu_grads.dgamma, 1e-3, what + " dgamma");
  test::check_gpu_close_scaled(gpu_grads.dbeta, cpu_grads.dbeta, 1e-3, what + " dbeta");
}

}  // namespace

TEST_CASE("cuda bf16: cast rounds to nearest and its gradient lands in the float32 master slice") {
  if (!test::gpu_or_skip()) return;
  Tensor x = test::normal_tensor({7, 9}, 1);
  Tensor back = x.to(gpu()).to(DType::bf16).to(DType::f32);
  test::check_gpu_close(back, x, 1.0 / 256, 0, "f32 -> bf16 -> f32");  // half an ulp of 8 bits

  Variable master(x.to(gpu()), true);
  Variable compute = cast(master.slice(0, 0, 4).slice(1, 0, 5), DType::bf16);
  CHECK(compute.dtype() == DType::bf16);
  compute.backward(Tensor::full({4, 5}, 0.5, DType::bf16, gpu()));
  REQUIRE(master.grad().defined());
  CHECK(master.grad().dtype() == DType::f32);
  Tensor expected = Tensor::zeros({7, 9});
  expected.slice(0, 0, 4).slice(1, 0, 5).fill_(0.5);
  test::check_gpu_equal(master.grad(), expected, "master gradient");
}

TEST_CASE("cuda bf16: elementwise ops and their gradients match the CPU") {
  if (!test::gpu_or_skip()) return;
  Pair a = normal_pair({4, 6, 5, 5}, 2), b = normal_pair({4, 6, 5, 5}, 3), c = normal_pair({1, 6, 1, 1}, 4);
  check_bf16(ops::relu(a.gpu), ops::relu(a.cpu), "relu");
  check_bf16(ops::relu6(ops::scale(a.gpu, 4)), ops::relu6(ops::scale(a.cpu, 4)), "relu6 of scale");
  check_bf16(ops::add(a.gpu, b.gpu), ops::add(a.cpu, b.cpu), "add");
  check_bf16(ops::mul(a.gpu, c.gpu), ops::mul(a.cpu, c.cpu), "mul, broadcast");
  check_bf16(ops::add(a.gpu.transpose(1, 3), b.gpu.transpose(1, 3)),
             ops::add(a.cpu.transpose(1, 3), b.cpu.transpose(1, 3)), "add, strided");
  check_bf16(ops::binary(BinaryOp::relu_backward, b.gpu, a.gpu),
             ops::binary(BinaryOp::relu_backward, b.cpu, a.cpu), "relu backward");
  check_bf16(ops::ge(a.gpu, b.gpu), ops::ge(a.cpu, b.cpu), "comparison");
  Tensor acc = a.gpu.clone();
  ops::add_(acc, b.gpu);
  check_bf16(acc, ops::add(a.cpu, b.cpu), "in-place add (gradient accumulation)");
}

TEST_CASE("cuda bf16: row sums accumulate in float32; other reductions ask for float32") {
  if (!test::gpu_or_skip()) return;
  Pair x = normal_pair({16, 8, 7, 7}, 5);
  check_bf16_scaled(ops::sum(x.gpu, {0, 2, 3}), ops::sum(x.cpu, {0, 2, 3}), "conv bias gradient");
  check_bf16_scaled(ops::sum(x.gpu, {0}), ops::sum(x.cpu, {0}), "linear bias gradient");
  check_bf16_scaled(ops::mean(x.gpu, {1, 2, 3}), ops::mean(x.cpu, {1, 2, 3}), "mean");
  Pair big = normal_pair({2, 300000}, 6);  // long rows: segments merged by a second kernel
  check_bf16_scaled(ops::sum(big.gpu, {1}), ops::sum(big.cpu, {1}), "long rows");
  CHECK_THROWS_AS(ops::max(x.gpu, {1}), Error);
}

TEST_CASE("cuda bf16: convolutions (dense, strided, depthwise, width-sliced) match the CPU") {
  if (!test::gpu_or_skip()) return;
  for (const test::ConvCase& k : test::conv_cases()) {
    const std::string what = shape_str(k.x) + " * " + shape_str(k.w);
    Pair x = normal_pair(k.x, 7);
    // The weight is a width slice W[:o, :i] of a larger one, as a sub-network reads it.
    Shape big_shape = k.w;
    big_shape[0] += 8;
    if (k.args.groups == 1) big_shape[1] += 4;
    Pair big = normal_pair(big_shape, 8, 0.2);
    Tensor wg = big.gpu.slice(0, 0, k.w[0]).slice(1, 0, k.w[1]);
    Tensor wc = big.cpu.slice(0, 0, k.w[0]).slice(1, 0, k.w[1]);
    Tensor yc = ops::conv2d_forward(x.cpu, wc, k.args);
    check_bf16_scaled(ops::conv2d_forward(x.gpu, wg, k.args), yc, what + " forward");

    Pair dy = normal_pair(yc.shape(), 9);
    check_bf16_scaled(ops::conv2d_backward_data(dy.gpu, wg, k.x, k.args),
                      ops::conv2d_backward_data(dy.cpu, wc, k.x, k.args), what + " backward data");
    // Both gradients in one call, as autograd asks for them.
    auto [dxg, dwg_fresh] = ops::conv2d_backward(dy.gpu, x.gpu, wg, k.args);
    auto [dxc, dwc_fresh] = ops::conv2d_backward(dy.cpu, x.cpu, wc, k.args);
    check_bf16_scaled(dxg, dxc, what + " backward, data gradient");
    check_bf16_scaled(dwg_fresh, dwc_fresh, what + " backward, weight gradient");
    // Accumulating into a sliced gradient, as a second sub-network does.
    Pair start = normal_pair(big_shape, 10);
    Tensor dwg = start.gpu.clone(), dwc = start.cpu.clone();
    ops::conv2d_backward_weight(x.gpu, dy.gpu, dwg.slice(0, 0, k.w[0]).slice(1, 0, k.w[1]), k.args, true);
    ops::conv2d_backward_weight(x.cpu, dy.cpu, dwc.slice(0, 0, k.w[0]).slice(1, 0, k.w[1]), k.args, true);
    check_bf16_scaled(dwg, dwc, what + " backward weight, accumulated");
  }
}

TEST_CASE("cuda bf16: matrix products (linear layer, its gradients) match the CPU") {
  if (!test::gpu_or_skip()) return;
  Pair x = normal_pair({32, 40}, 11), w = normal_pair({24, 48}, 12), g = normal_pair({32, 20}, 13);
  Tensor wg = w.gpu.slice(0, 0, 20).slice(1, 0, 40), wc = w.cpu.slice(0, 0, 20).slice(1, 0, 40);
  check_bf16_scaled(ops::matmul(x.gpu, wg.transpose(0, 1)), ops::matmul(x.cpu, wc.transpose(0, 1)), "x @ W^T");
  check_bf16_scaled(ops::matmul(g.gpu, wg), ops::matmul(g.cpu, wc), "dx = g @ W");
  check_bf16_scaled(ops::matmul(g.gpu.transpose(0, 1), x.gpu), ops::matmul(g.cpu.transpose(0, 1), x.cpu),
                    "dW = g^T @ x");
}

TEST_CASE("cuda bf16: batch norm keeps float32 statistics and parameters, bf16 activations") {
  if (!test::gpu_or_skip()) return;
  for (const Shape& s : {Shape{8, 16, 6, 6}, Shape{32, 24, 3, 3}, Shape{4, 5, 1, 1}}) {
    for (bool training : {true, false}) {
      const std::string what = shape_str(s) + (training ? " training" : " eval");
      const int64_t C = s[1], full = C + 3;
      Pair x = bf16_pair(ops::add_scalar(test::normal_tensor(s, 14, DType::f32, 2.0), 0.5));
      Tensor gamma = test::normal_tensor({full}, 15), beta = test::normal_tensor({full}, 16);
      Tensor rm = test::normal_tensor({full}, 17), rv = ops::add_scalar(ops::abs(test::normal_tensor({full}, 18)), 0.5);
      Tensor rm_g = rm.to(gpu()), rv_g = rv.to(gpu());
      auto prefix = [&](const Tensor& t) { return t.slice(0, 0, C); };
      auto cpu = ops::batchnorm_forward(x.cpu, prefix(gamma), prefix(beta), prefix(rm), prefix(rv), training, 0.1, 1e-5);
      auto dev = ops::batchnorm_forward(x.gpu, prefix(gamma.to(gpu())), prefix(beta.to(gpu())), prefix(rm_g),
                                        prefix(rv_g), training, 0.1, 1e-5);
      check_bf16(dev.y, cpu.y, what + " y");
      CHECK(dev.save_mean.dtype() == DType::f32);
      test::check_gpu_close(dev.save_mean, cpu.save_mean, 1e-4, 1e-5, what + " saved mean");
      test::check_gpu_close(dev.save_invstd, cpu.save_invstd, 1e-4, 0, what + " saved invstd");
      test::check_gpu_close(rm_g, rm, 1e-4, 1e-6, what + " running mean");
      test::check_gpu_close(rv_g, rv, 1e-4, 1e-6, what + " running var");

      Pair dy = normal_pair(s, 19);
      auto gc = ops::batchnorm_backward(dy.cpu, x.cpu, prefix(gamma), cpu.save_mean, cpu.save_invstd, training);
      auto gg = ops::batchnorm_backward(dy.gpu, x.gpu, prefix(gamma.to(gpu())), dev.save_mean, dev.save_invstd,
                                        training);
      check_bn_grads(gg, gc, what);
    }
  }
}

TEST_CASE("cuda bf16: batch norm fused with a ReLU matches the CPU's fused pass") {
  if (!test::gpu_or_skip()) return;
  for (bool training : {true, false}) {
    const std::string what = training ? "training" : "eval";
    const Shape s{16, 24, 6, 6};
    Pair x = bf16_pair(ops::add_scalar(test::normal_tensor(s, 31, DType::f32), 0.3));
    Tensor gamma = test::normal_tensor({24}, 32), beta = test::normal_tensor({24}, 33);
    Tensor rm = Tensor::zeros({24}), rv = Tensor::ones({24}), rm_g = rm.to(gpu()), rv_g = rv.to(gpu());
    auto cpu = ops::batchnorm_forward(x.cpu, gamma, beta, rm, rv, training, 0.1, 1e-5, true);
    auto dev = ops::batchnorm_forward(x.gpu, gamma.to(gpu()), beta.to(gpu()), rm_g, rv_g, training, 0.1, 1e-5, true);
    check_bf16(dev.y, cpu.y, what + " y");
    CHECK(dev.save_mean.dtype() == DType::f32);
    test::check_gpu_close(dev.save_mean, cpu.save_mean, 1e-4, 1e-5, what + " saved mean");
    test::check_gpu_close(dev.save_invstd, cpu.save_invstd, 1e-4, 0, what + " saved invstd");
    test::check_gpu_close(rm_g, rm, 1e-4, 1e-6, what + " running mean");
    test::check_gpu_close(rv_g, rv, 1e-4, 1e-6, what + " running var");

    // Both backward passes mask with the CPU's output (rounded to bf16 for the GPU, which keeps
    // every sign), so an output within rounding of zero cannot flip one side's mask.
    Pair y = bf16_pair(cpu.y), dy = normal_pair(s, 34);
    auto gc = ops::batchnorm_backward(dy.cpu, x.cpu, gamma, cpu.save_mean, cpu.save_invstd, training, y.cpu);
    auto gg = ops::batchnorm_backward(dy.gpu, x.gpu, gamma.to(gpu()), dev.save_mean, dev.save_invstd, training,
                                      y.gpu);
    check_bn_grads(gg, gc, what);
  }
}

TEST_CASE("cuda bf16: batch norm in phases (synchronized batch norm) matches the CPU") {
  if (!test::gpu_or_skip()) return;
  const Shape s{16, 24, 6, 6};
  const double count = 16 * 6 * 6;
  Pair x = bf16_pair(ops::add_scalar(test::normal_tensor(s, 41, DType::f32), 0.3)), dy = normal_pair(s, 42);
  Tensor gamma = test::normal_tensor({24}, 43), invstd = ops::add_scalar(ops::abs(test::normal_tensor({24}, 44)), 0.5);
  const ops::BatchNormStats c = ops::batchnorm_stats(x.cpu), g = ops::batchnorm_stats(x.gpu);
  CHECK(g.mean.dtype() == DType::f32);
  test::check_gpu_close(g.mean, c.mean, 1e-4, 1e-5, "mean");
  test::check_gpu_close(g.var, c.var, 1e-4, 1e-5, "var");
  Pair relu_y = bf16_pair(ops::relu(test::normal_tensor(s, 45)));
  for (bool relu : {true, false}) {
    const std::string what = relu ? "with ReLU" : "without ReLU";
    const Tensor mask_cpu = relu ? relu_y.cpu : Tensor(), mask_gpu = relu ? relu_y.gpu : Tensor();
    const ops::BatchNormSums cs = ops::batchnorm_backward_reduce(dy.cpu, x.cpu, mask_cpu, c.mean);
    const ops::BatchNormSums gs = ops::batchnorm_backward_reduce(dy.gpu, x.gpu, mask_gpu, c.mean.to(gpu()));
    CHECK(gs.sum_g.dtype() == DType::f32);
    test::check_gpu_close_scaled(gs.sum_g, cs.sum_g, 1e-3, what + " sum_g");
    test::check_gpu_close_scaled(gs.sum_gx, cs.sum_gx, 1e-3, what + " sum_gx");
    const Tensor dx = ops::batchnorm_backward_apply(dy.cpu, x.cpu, mask_cpu, c.mean, invstd, gamma, cs, count);
    const Tensor dx_g = ops::batchnorm_backward_apply(dy.gpu, x.gpu, mask_gpu, c.mean.to(gpu()), invstd.to(gpu()),
                                                      gamma.to(gpu()), {cs.sum_g.to(gpu()), cs.sum_gx.to(gpu())},
                                                      count);
    check_bf16_scaled(dx_g, dx, what + " dx");
  }
}

TEST_CASE("cuda bf16: pooling, resize and pad match the CPU, forward and backward") {
  if (!test::gpu_or_skip()) return;
  const Shape s{4, 6, 11, 11};
  Pair x = normal_pair(s, 20);
  Pool2dArgs max_args{3, 3, 2, 2, 1, 1}, avg_args{3, 3, 2, 2, 1, 1};

  auto mc = ops::maxpool2d_forward(x.cpu, max_args);
  auto mg = ops::maxpool2d_forward(x.gpu, max_args);
  check_bf16(mg.y, mc.y, "max pool");
  test::check_gpu_equal(mg.indices, mc.indices, "max pool indices");
  Pair dm = normal_pair(mc.y.shape(), 21);
  check_bf16(ops::maxpool2d_backward(dm.gpu, mg.indices, s), ops::maxpool2d_backward(dm.cpu, mc.indices, s),
             "max pool backward");

  Tensor ac = ops::avgpool2d_forward(x.cpu, avg_args);
  check_bf16(ops::avgpool2d_forward(x.gpu, avg_args), ac, "avg pool");
  Pair da = normal_pair(ac.shape(), 22);
  check_bf16(ops::avgpool2d_backward(da.gpu, s, avg_args), ops::avgpool2d_backward(da.cpu, s, avg_args),
             "avg pool backward");

  check_bf16_scaled(ops::adaptive_avgpool2d_forward(x.gpu, 1, 1), ops::adaptive_avgpool2d_forward(x.cpu, 1, 1),
                    "global average pool");
  Pair dg = normal_pair({4, 6, 1, 1}, 23);
  check_bf16(ops::adaptive_avgpool2d_backward(dg.gpu, s), ops::adaptive_avgpool2d_backward(dg.cpu, s),
             "global average pool backward");

  for (bool align : {true, false}) {
    Tensor rc = ops::resize_bilinear_forward(x.cpu, 7, 8, align);
    check_bf16(ops::resize_bilinear_forward(x.gpu, 7, 8, align), rc, "resize");
    Pair dr = normal_pair(rc.shape(), 24);
    check_bf16_scaled(ops::resize_bilinear_backward(dr.gpu, s, align), ops::resize_bilinear_backward(dr.cpu, s, align),
                      "resize backward");
  }

  const Pad2d pad{2, 1, 3, 2};
  for (PadMode mode : {PadMode::zero, PadMode::reflect}) {
    Tensor pc = ops::pad2d_forward(x.cpu, pad, mode);
    check_bf16(ops::pad2d_forward(x.gpu, pad, mode), pc, "pad");
    Pair dp = normal_pair(pc.shape(), 25);
    check_bf16(ops::pad2d_backward(dp.gpu, s, pad, mode), ops::pad2d_backward(dp.cpu, s, pad, mode), "pad backward");
  }
}

TEST_CASE("cuda bf16: precision = bf16 gives bf16 activations, fp32 and tf32 keep float32") {
  if (!test::gpu_or_skip()) return;
  Backend& be = backend(gpu());
  be.set_precision(Precision::bf16);
  CHECK(be.activation_dtype() == DType::bf16);
  be.set_precision(Precision::fp32);
  CHECK(be.activation_dtype() == DType::f32);
  be.set_precision(Precision::tf32);
  CHECK(be.activation_dtype() == DType::f32);
}
