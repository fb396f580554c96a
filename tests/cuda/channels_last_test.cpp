// Channels-last (NHWC) activations on the GPU (memory_format = "nhwc") against the CPU's float32
// NCHW ops: every op a model runs on activations besides the convolutions (conv2d_test.cpp runs
// its shapes in NHWC too) — batch norm plain and fused with ReLU, its synchronized phases,
// pooling, resize, padding and the elementwise ops — forward and backward, in float32 (tight
// bounds) and in bfloat16 (inputs rounded once, the CPU given the same values; bf16's 1e-2). Every
// GPU result must itself be channels-last: an op handing back NCHW would cost the next op a
// transpose. Inputs arrive channels-last, as models::Model converts its input once.
#include "autograd/functions.h"
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

namespace {

constexpr MemoryFormat kNhwc = MemoryFormat::channels_last;

struct Pair {
  Tensor gpu, cpu;
};

// x on the GPU in `dtype`, channels-last, and the same values as a float32 NCHW CPU tensor.
Pair pair(const Tensor& x, DType dtype) {
  Tensor g = x.to(gpu()).to(dtype).contiguous(kNhwc);
  return {g, g.to(DType::f32).to(Device::cpu())};
}

Pair normal_pair(const Shape& s, uint64_t seed, DType dtype, double std = 1) {
  return pair(test::normal_tensor(s, seed, DType::f32, std), dtype);
}

// Relative bounds: float32 to rounding (sums in another order, float32 statistics against the
// CPU's double ones), bfloat16 to one rounding of the result; as tests/cuda/batchnorm_test.cpp and
// bf16_test.cpp bound the NCHW kernels.
double tol(DType dtype) { return dtype == DType::bf16 ? 1e-2 : 1e-4; }

void check_layout(const Tensor& g, DType dtype, const std::string& what) {
  REQUIRE_MESSAGE(g.device().is_cuda(), what);
  CHECK_MESSAGE(g.dtype() == dtype, what);
  CHECK_MESSAGE(g.is_contiguous(kNhwc), what, ": strides ", shape_str(g.strides()), " for ",
                shape_str(g.shape()), " are not channels-last");
}

void check(const Tensor& g, const Tensor& c, DType dtype, const std::string& what) {
  check_layout(g, dtype, what);
  test::check_close(g, c, tol(dtype), dtype == DType::bf16 ? 1e-6 : 1e-5, what);
}

// For results of long sums.
void check_scaled(const Tensor& g, const Tensor& c, DType dtype, const std::string& what) {
  check_layout(g, dtype, what);
  test::check_close_scaled(g, c, tol(dtype), what);
}

const DType kDtypes[] = {DType::f32, DType::bf16};

std::string name(DType dtype, const Shape& s) { return cat(dtype_name(dtype), " ", shape_str(s)); }

}  // namespace

TEST_CASE("cuda nhwc: tensors keep (N, C, H, W) shapes with channels-last strides") {
  if (!test::gpu_or_skip()) return;
  test::MemoryFormatGuard nhwc(kNhwc);
  CHECK(backend(gpu()).memory_format() == kNhwc);
  Tensor x = test::normal_tensor({2, 3, 4, 5}, 1);
  Tensor g = x.to(gpu()).contiguous(kNhwc);
  CHECK(g.shape() == Shape{2, 3, 4, 5});
  CHECK(g.strides() == Shape{60, 1, 15, 3});
  CHECK(g.memory_format() == kNhwc);
  test::check_gpu_equal(g, x, "NCHW -> NHWC on the GPU");
  test::check_gpu_equal(g.contiguous(), x, "and back");
  // The CPU holds no bfloat16 tensors: the NCHW conversion (bf16_test.cpp) is the reference.
  test::check_gpu_equal(g.to(DType::bf16).to(DType::f32), x.to(gpu()).to(DType::bf16).to(DType::f32).to(Device::cpu()),
                        "bf16 round trip");
  CHECK(g.to(DType::bf16).is_contiguous(kNhwc));  // a dtype conversion keeps the layout
}

TEST_CASE("cuda nhwc: batch norm, plain and fused with ReLU, training and eval, matches the CPU") {
  if (!test::gpu_or_skip()) return;
  test::MemoryFormatGuard nhwc(kNhwc);
  // C below, at and above a 32-channel block, a plane of 1 (ambiguous layout), many rows (segments).
  const Shape shapes[] = {{8, 16, 6, 6}, {4, 70, 5, 3}, {32, 32, 3, 3}, {4, 5, 1, 1}, {64, 8, 16, 16}};
  for (DType dtype : kDtypes)
    for (const Shape& s : shapes)
      for (bool training : {true, false})
        for (bool relu : {false, true}) {
          const std::string what = name(dtype, s) + (training ? " training" : " eval") + (relu ? " relu" : "");
          const int64_t C = s[1];
          Pair x = pair(ops::add_scalar(test::normal_tensor(s, 14, DType::f32, 2.0), 0.5), dtype);
          Tensor gamma = test::normal_tensor({C}, 15), beta = test::normal_tensor({C}, 16);
          Tensor rm = test::normal_tensor({C}, 17), rv = ops::add_scalar(ops::abs(test::normal_tensor({C}, 18)), 0.5);
          Tensor rm_g = rm.to(gpu()), rv_g = rv.to(gpu());
          auto cpu = ops::batchnorm_forward(x.cpu, gamma, beta, rm, rv, training, 0.1, 1e-5, relu);
          auto dev = ops::batchnorm_forward(x.gpu, gamma.to(gpu()), beta.to(gpu()), rm_g, rv_g, training, 0.1,
                                            1e-5, relu);
          check(dev.y, cpu.y, dtype, what + " y");
          test::check_gpu_close(dev.save_mean, cpu.save_mean, 1e-4, 1e-5, what + " saved mean");
          test::check_gpu_close(dev.save_invstd, cpu.save_invstd, 1e-4, 0, what + " saved invstd");
          test::check_gpu_close(rm_g, rm, 1e-4, 1e-6, what + " running mean");
          test::check_gpu_close(rv_g, rv, 1e-4, 1e-6, what + " running var");

          // The fused backward masks with the CPU's output (as the GPU's dtype, which keeps every
          // sign), so an output within rounding of zero cannot flip one side's mask.
          Pair y = relu ? pair(cpu.y, dtype) : Pair{};
          Pair dy = normal_pair(s, 19, dtype);
          auto gc = ops::batchnorm_backward(dy.cpu, x.cpu, gamma, cpu.save_mean, cpu.save_invstd, training, y.cpu);
          auto gg = ops::batchnorm_backward(dy.gpu, x.gpu, gamma.to(gpu()), dev.save_mean, dev.save_invstd,
                                            training, y.gpu);
          check_scaled(gg.dx, gc.dx, dtype, what + " dx");
          test::check_gpu_close_scaled(gg.dgamma, gc.dgamma, 1e-3, what + " dgamma");
          test::check_gpu_close_scaled(gg.dbeta, gc.dbeta, 1e-3, what + " dbeta");
        }
}

TEST_CASE("cuda nhwc: batch norm in phases (synchronized batch norm) matches the CPU") {
  if (!test::gpu_or_skip()) return;
  test::MemoryFormatGuard nhwc(kNhwc);
  for (DType dtype : kDtypes)
    for (const Shape& s : {Shape{16, 24, 6, 6}, Shape{8, 40, 3, 5}}) {
      const int64_t C = s[1];
      const double count = static_cast<double>(s[0] * s[2] * s[3]);
      Pair x = pair(ops::add_scalar(test::normal_tensor(s, 41, DType::f32), 0.3), dtype);
      Pair dy = normal_pair(s, 42, dtype);
      Tensor gamma = test::normal_tensor({C}, 43), invstd = ops::add_scalar(ops::abs(test::normal_tensor({C}, 44)), 0.5);
      const ops::BatchNormStats c = ops::batchnorm_stats(x.cpu), g = ops::batchnorm_stats(x.gpu);
      test::check_gpu_close(g.mean, c.mean, 1e-4, 1e-5, name(dtype, s) + " mean");
      test::check_gpu_close(g.var, c.var, 1e-4, 1e-5, name(dtype, s) + " var");
      Pair relu_y = pair(ops::relu(test::normal_tensor(s, 45)), dtype);
      for (bool relu : {true, false}) {
        const std::string what = name(dtype, s) + (relu ? " with ReLU" : " without ReLU");
        const Tensor mask_cpu = relu ? relu_y.cpu : Tensor(), mask_gpu = relu ? relu_y.gpu : Tensor();
        const ops::BatchNormSums cs = ops::batchnorm_backward_reduce(dy.cpu, x.cpu, mask_cpu, c.mean);
        const ops::BatchNormSums gs = ops::batchnorm_backward_reduce(dy.gpu, x.gpu, mask_gpu, c.mean.to(gpu()));
        test::check_gpu_close_scaled(gs.sum_g, cs.sum_g, 1e-3, what + " sum_g");
        test::check_gpu_close_scaled(gs.sum_gx, cs.sum_gx, 1e-3, what + " sum_gx");
        const Tensor dx = ops::batchnorm_backward_apply(dy.cpu, x.cpu, mask_cpu, c.mean, invstd, gamma, cs, count);
        const Tensor dx_g = ops::batchnorm_backward_apply(
            dy.gpu, x.gpu, mask_gpu, c.mean.to(gpu()), invstd.to(gpu()), gamma.to(gpu()),
            {cs.sum_g.to(gpu()), cs.sum_gx.to(gpu())}, count);
        check_scaled(dx_g, dx, dtype, what + " dx");
      }
    }
}

TEST_CASE("cuda nhwc: pooling, resize and pad match the CPU, forward and backward") {
  if (!test::gpu_or_skip()) return;
  test::MemoryFormatGuard nhwc(kNhwc);
  for (DType dtype : kDtypes)
    for (const Shape& s : {Shape{4, 6, 11, 11}, Shape{2, 33, 8, 9}}) {
      const std::string what = name(dtype, s);
      Pair x = normal_pair(s, 20, dtype);
      const Pool2dArgs args{3, 3, 2, 2, 1, 1};

      auto mc = ops::maxpool2d_forward(x.cpu, args);
      auto mg = ops::maxpool2d_forward(x.gpu, args);
      check(mg.y, mc.y, dtype, what + " max pool");
      test::check_gpu_equal(mg.indices, mc.indices, what + " max pool indices");
      Pair dm = normal_pair(mc.y.shape(), 21, dtype);
      check(ops::maxpool2d_backward(dm.gpu, mg.indices, s), ops::maxpool2d_backward(dm.cpu, mc.indices, s), dtype,
            what + " max pool backward");

      Tensor ac = ops::avgpool2d_forward(x.cpu, args);
      check(ops::avgpool2d_forward(x.gpu, args), ac, dtype, what + " avg pool");
      Pair da = normal_pair(ac.shape(), 22, dtype);
      check(ops::avgpool2d_backward(da.gpu, s, args), ops::avgpool2d_backward(da.cpu, s, args), dtype,
            what + " avg pool backward");

      for (auto [oh, ow] : {std::pair{1, 1}, std::pair{3, 2}}) {
        const std::string w = cat(what, " adaptive pool to ", oh, "x", ow);
        Tensor pc = ops::adaptive_avgpool2d_forward(x.cpu, oh, ow);
        check_scaled(ops::adaptive_avgpool2d_forward(x.gpu, oh, ow), pc, dtype, w);
        Pair dg = normal_pair(pc.shape(), 23, dtype);
        check(ops::adaptive_avgpool2d_backward(dg.gpu, s), ops::adaptive_avgpool2d_backward(dg.cpu, s), dtype,
              w + " backward");
      }

      for (bool align : {true, false}) {
        Tensor rc = ops::resize_bilinear_forward(x.cpu, 7, 8, align);
        check(ops::resize_bilinear_forward(x.gpu, 7, 8, align), rc, dtype, what + " resize");
        Pair dr = normal_pair(rc.shape(), 24, dtype);
        check_scaled(ops::resize_bilinear_backward(dr.gpu, s, align), ops::resize_bilinear_backward(dr.cpu, s, align),
                     dtype, what + " resize backward");
      }

      const Pad2d pad{2, 1, 3, 2};
      for (PadMode mode : {PadMode::zero, PadMode::reflect}) {
        Tensor pc = ops::pad2d_forward(x.cpu, pad, mode);
        check(ops::pad2d_forward(x.gpu, pad, mode), pc, dtype, what + " pad");
        Pair dp = normal_pair(pc.shape(), 25, dtype);
        check(ops::pad2d_backward(dp.gpu, s, pad, mode), ops::pad2d_backward(dp.cpu, s, pad, mode), dtype,
              what + " pad backward");
      }
    }
}

TEST_CASE("cuda nhwc: elementwise ops keep the layout (residual add, ReLU, broadcast bias)") {
  if (!test::gpu_or_skip()) return;
  test::MemoryFormatGuard nhwc(kNhwc);
  for (DType dtype : kDtypes) {
    const Shape s{4, 6, 5, 7};
    Pair a = normal_pair(s, 2, dtype), b = normal_pair(s, 3, dtype);
    Tensor bias = test::normal_tensor({1, 6, 1, 1}, 4).to(gpu()).to(dtype);
    Tensor bias_cpu = bias.to(DType::f32).to(Device::cpu());
    check(ops::add(a.gpu, b.gpu), ops::add(a.cpu, b.cpu), dtype, "residual add");
    check(ops::relu(a.gpu), ops::relu(a.cpu), dtype, "relu");
    check(ops::binary(BinaryOp::relu_backward, b.gpu, a.gpu), ops::binary(BinaryOp::relu_backward, b.cpu, a.cpu),
          dtype, "relu backward");
    check(ops::mul(a.gpu, bias), ops::mul(a.cpu, bias_cpu), dtype, "broadcast bias, channels-last first");
    check(ops::mul(bias, a.gpu), ops::mul(bias_cpu, a.cpu), dtype, "broadcast bias, channels-last second");
    Tensor acc = a.gpu.clone().contiguous(kNhwc);
    ops::add_(acc, b.gpu);
    check(acc, ops::add(a.cpu, b.cpu), dtype, "in-place add (gradient accumulation)");
    // Mixed layouts still compute by logical index; the output follows the first operand.
    Tensor mixed = ops::add(a.gpu, b.gpu.contiguous());
    check(mixed, ops::add(a.cpu, b.cpu), dtype, "NHWC + NCHW");
    CHECK(ops::add(b.gpu.contiguous(), a.gpu).is_contiguous());
  }
}

TEST_CASE("cuda nhwc: the weight's cast makes the KRSC compute copy and routes its gradient to the master slice") {
  if (!test::gpu_or_skip()) return;
  test::MemoryFormatGuard nhwc(kNhwc);
  Tensor master_values = test::normal_tensor({12, 10, 3, 3}, 60);
  for (DType dtype : kDtypes) {
    Variable master(master_values.to(gpu()), true);
    Variable compute = cast(master.slice(0, 0, 8).slice(1, 0, 6), dtype, kNhwc);
    check_layout(compute.data(), dtype, cat(dtype_name(dtype), " compute copy"));
    test::check_gpu_close(compute.data(), master_values.slice(0, 0, 8).slice(1, 0, 6), tol(dtype), 0,
                          "compute copy values");
    Tensor g = test::normal_tensor({8, 6, 3, 3}, 61);
    compute.backward(g.to(gpu()).to(dtype).contiguous(kNhwc));
    REQUIRE(master.grad().defined());
    CHECK(master.grad().dtype() == DType::f32);
    Tensor expected = Tensor::zeros({12, 10, 3, 3});
    expected.slice(0, 0, 8).slice(1, 0, 6).copy_(g.to(gpu()).to(dtype).to(DType::f32).to(Device::cpu()));
    test::check_gpu_equal(master.grad(), expected, cat(dtype_name(dtype), " master gradient"));
  }
}

TEST_CASE("cuda nhwc: convolutions through autograd on KRSC compute copies of width-sliced weights match the CPU") {
  if (!test::gpu_or_skip()) return;
  test::MemoryFormatGuard nhwc(kNhwc);
  backend(gpu()).set_precision(Precision::fp32);  // float32 without TF32; bf16 tensors compute in float32 anyway
  for (DType dtype : kDtypes)
    for (const test::ConvCase& k : test::conv_cases()) {
      const std::string what = name(dtype, k.x) + " * " + shape_str(k.w);
      // The full float32 weight, and the sub-network's compute copy of its corner W[:o, :i] as
      // nn::Conv2d makes it: in the activations' dtype, KRSC.
      Shape full = k.w;
      full[0] += 8;
      if (k.args.groups == 1) full[1] += 4;
      Variable master(test::normal_tensor(full, 8, DType::f32, 0.2).to(gpu()), true);
      Variable w = cast(master.slice(0, 0, k.w[0]).slice(1, 0, k.w[1]), dtype, kNhwc);
      check_layout(w.data(), dtype, what + " compute copy");
      const Tensor wc = w.data().to(DType::f32).to(Device::cpu());
      Pair x = normal_pair(k.x, 7, dtype);
      Variable xv(x.gpu, true);
      Variable y = conv2d(xv, w, std::nullopt, k.args);
      const Tensor yc = ops::conv2d_forward(x.cpu, wc, k.args);
      check_scaled(y.data(), yc, dtype, what + " forward");
      Pair dy = normal_pair(yc.shape(), 9, dtype);
      y.backward(dy.gpu);
      auto [dxc, dwc] = ops::conv2d_backward(dy.cpu, x.cpu, wc, k.args);
      test::check_gpu_close_scaled(xv.grad(), dxc, tol(dtype), what + " input gradient");
      // The weight gradient lands, float32, in the corner of the master's gradient; the rest is 0.
      Tensor expected = Tensor::zeros(full);
      expected.slice(0, 0, k.w[0]).slice(1, 0, k.w[1]).copy_(dwc);
      test::check_gpu_close_scaled(master.grad(), expected, tol(dtype), what + " master weight gradient");
    }
  backend(gpu()).set_precision(Precision::tf32);
}

TEST_CASE("cuda nhwc: gradients flow back between the layers channels-last") {
  if (!test::gpu_or_skip()) return;
  test::MemoryFormatGuard nhwc(kNhwc);
  for (DType dtype : kDtypes) {
    // The identity, recording the layout of the gradient that reaches it.
    std::vector<std::string> bad;
    auto probe = [&bad](const Variable& v, const char* where) {
      return Variable::make(v.data(), where, {v}, [&bad, where](const Tensor& g) {
        if (!g.is_contiguous(kNhwc)) bad.push_back(cat(where, ": strides ", shape_str(g.strides())));
        return std::vector<Tensor>{g};
      });
    };
    auto param = [&](const Shape& s, uint64_t seed, double std) {
      return Variable(test::normal_tensor(s, seed, DType::f32, std).to(gpu()), true);
    };
    Variable x(test::normal_tensor({4, 3, 12, 12}, 70).to(gpu()).to(dtype).contiguous(kNhwc), true);
    Variable w1 = param({16, 3, 3, 3}, 71, 0.3), w2 = param({16, 16, 3, 3}, 72, 0.1);
    Variable gamma = param({16}, 73, 0.1), beta = param({16}, 74, 0.1), fc = param({5, 16}, 75, 0.2);
    Tensor rm = Tensor::zeros({16}, DType::f32, gpu()), rv = Tensor::ones({16}, DType::f32, gpu());
    Variable h = probe(conv2d(x, cast(w1, dtype, kNhwc), std::nullopt, test::conv_args(1, 1)), "conv 1");
    h = probe(max_pool2d(h, {3, 3, 2, 2, 1, 1}), "max pool");
    Variable a = probe(batch_norm(h, gamma, beta, rm, rv, true, 0.1, 1e-5, true), "batch norm + relu");
    h = probe(conv2d(a, cast(w2, dtype, kNhwc), std::nullopt, test::conv_args(1, 1)), "conv 2");
    h = probe(h + a, "residual add");
    h = probe(adaptive_avg_pool2d(h, 1, 1), "global pool");
    Variable logits = cast(linear(h.flatten(1), cast(fc, dtype), std::nullopt), DType::f32);
    cross_entropy(logits, Tensor::from_vector<int64_t>({0, 1, 2, 3}, {4}).to(gpu())).backward();
    CHECK_MESSAGE(bad.empty(), dtype_name(dtype), ": gradients not channels-last at ", bad.size(), " layers",
                  bad.empty() ? "" : ", first " + bad.front());
    for (const Variable* p : {&x, &w1, &w2, &gamma, &beta, &fc}) CHECK(p->grad().defined());
  }
}
