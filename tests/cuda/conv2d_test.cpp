// cuDNN convolutions against the CPU: forward, backward-data and backward-weight over dense,
// strided, padded, dilated, grouped, depthwise and pointwise shapes; weights that are width slices
// of a larger weight (packed for cuDNN) and weight gradients written / accumulated into such slices
// (the untouched rest of the full gradient must stay as it was). Once with TF32 off (float32
// accuracy) and once with the default TF32 tensor cores (10-bit mantissa products, looser bound);
// both again with channels-last (NHWC) activations, which must come back channels-last.
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

namespace {

struct ConvCase {
  const char* name;
  Shape x, w;
  Conv2dArgs args;
};

const ConvCase kCases[] = {
    {"3x3 pad 1", {4, 16, 12, 12}, {24, 16, 3, 3}, test::conv_args(1, 1)},
    {"3x3 stride 2", {3, 8, 13, 11}, {16, 8, 3, 3}, test::conv_args(2, 1)},
    {"1x1 stride 2 (shortcut)", {4, 16, 8, 8}, {32, 16, 1, 1}, test::conv_args(2, 0)},
    {"5x5 dilated", {2, 4, 15, 15}, {6, 4, 5, 5}, test::conv_args(1, 4, 2)},
    {"grouped 4", {2, 16, 9, 9}, {24, 4, 3, 3}, test::conv_args(1, 1, 1, 4)},
    {"depthwise", {3, 12, 10, 10}, {12, 1, 3, 3}, test::conv_args(2, 1, 1, 12)},
    {"depthwise x2", {2, 8, 7, 7}, {16, 1, 3, 3}, test::conv_args(1, 1, 1, 8)},
    {"first layer 3->16", {8, 3, 32, 32}, {16, 3, 3, 3}, test::conv_args(1, 1)},
    {"rectangular", {2, 6, 9, 14}, {10, 6, 1, 3}, test::conv_args(1, 0)},
};

void run_case(const ConvCase& c, double rtol, const std::string& mode) {
  const std::string what = std::string(c.name) + " " + mode;
  Tensor x = test::normal_tensor(c.x, 51), w = test::normal_tensor(c.w, 52, DType::f32, 0.3);
  Tensor y = ops::conv2d_forward(x, w, c.args);
  Tensor dy = test::normal_tensor(y.shape(), 53);
  // Activations in the backend's layout, as the layers hand them over.
  const MemoryFormat fmt = backend(gpu()).memory_format();
  Tensor xg = x.to(gpu()).contiguous(fmt), wg = w.to(gpu()), dyg = dy.to(gpu()).contiguous(fmt);
  Tensor yg = ops::conv2d_forward(xg, wg, c.args);
  CHECK_MESSAGE(yg.is_contiguous(fmt), what, " forward: output layout");
  test::check_gpu_close_scaled(yg, y, rtol, what + " forward");
  Tensor dxg = ops::conv2d_backward_data(dyg, wg, c.x, c.args);
  CHECK_MESSAGE(dxg.is_contiguous(fmt), what, " backward-data: output layout");
  test::check_gpu_close_scaled(dxg, ops::conv2d_backward_data(dy, w, c.x, c.args), rtol, what + " backward-data");
  Tensor dw = Tensor::empty(c.w, DType::f32), dwg = Tensor::empty(c.w, DType::f32, gpu());
  ops::conv2d_backward_weight(x, dy, dw, c.args, false);
  ops::conv2d_backward_weight(xg, dyg, dwg, c.args, false);
  test::check_gpu_close_scaled(dwg, dw, rtol, what + " backward-weight");
  ops::conv2d_backward_weight(x, dy, dw, c.args, true);
  ops::conv2d_backward_weight(xg, dyg, dwg, c.args, true);
  test::check_gpu_close_scaled(dwg, dw, rtol, what + " backward-weight accumulated");

  // The same weight as the corner of a wider one (more output and input channels): read in
  // place, gradient scattered back.
  const int64_t extra_in = 2;
  Tensor w_view = test::corner_of_larger(w, 7, extra_in, gpu());
  REQUIRE(w_view.stride(0) > w_view.size(1) * w_view.size(2) * w_view.size(3));
  test::check_gpu_close_scaled(ops::conv2d_forward(xg, w_view, c.args), y, rtol,
                               what + " forward, sliced weight");
  test::check_gpu_close_scaled(ops::conv2d_backward_data(dyg, w_view, c.x, c.args),
                               ops::conv2d_backward_data(dy, w, c.x, c.args), rtol,
                               what + " backward-data, sliced weight");
  Shape full = c.w;
  full[0] += 7;
  full[1] += extra_in;
  Tensor grad_full_cpu = test::normal_tensor(full, 54);
  Tensor grad_full_gpu = grad_full_cpu.to(gpu());
  auto corner = [&](const Tensor& t) { return t.slice(0, 0, c.w[0]).slice(1, 0, c.w[1]); };
  ops::conv2d_backward_weight(x, dy, corner(grad_full_cpu), c.args, true);
  ops::conv2d_backward_weight(xg, dyg, corner(grad_full_gpu), c.args, true);
  test::check_gpu_close_scaled(grad_full_gpu, grad_full_cpu, rtol,
                               what + " backward-weight accumulated into a slice");
  ops::conv2d_backward_weight(x, dy, corner(grad_full_cpu), c.args, false);
  ops::conv2d_backward_weight(xg, dyg, corner(grad_full_gpu), c.args, false);
  test::check_gpu_close_scaled(grad_full_gpu, grad_full_cpu, rtol,
                               what + " backward-weight written into a slice");
}

}  // namespace

TEST_CASE("cuda: cuDNN convolutions match the CPU in float32 (TF32 off)") {
  if (!test::gpu_or_skip()) return;
  backend(gpu()).set_precision(Precision::fp32);
  for (const ConvCase& c : kCases) run_case(c, 1e-4, "fp32");  // FFT / Winograd round differently
  backend(gpu()).set_precision(Precision::tf32);
}

TEST_CASE("cuda: cuDNN convolutions match the CPU within TF32 accuracy (default)") {
  if (!test::gpu_or_skip()) return;
  // TF32 rounds both factors to 10 mantissa bits (relative 2^-11 each); sums of ~100 to ~10^4
  // such products land within a few 1e-3 of the largest output.
  for (const ConvCase& c : kCases) run_case(c, 5e-3, "tf32");
}

TEST_CASE("cuda: cuDNN convolutions in NHWC match the CPU in float32 (TF32 off) and within TF32 accuracy") {
  if (!test::gpu_or_skip()) return;
  test::MemoryFormatGuard nhwc(MemoryFormat::channels_last);
  backend(gpu()).set_precision(Precision::fp32);
  for (const ConvCase& c : kCases) run_case(c, 1e-4, "nhwc fp32");
  backend(gpu()).set_precision(Precision::tf32);
  for (const ConvCase& c : kCases) run_case(c, 5e-3, "nhwc tf32");
}

TEST_CASE("cuda: a batch of MutualNet shapes reuses cached plans") {
  if (!test::gpu_or_skip()) return;
  // Widths 1.0 / 0.9 of a 160-channel layer at resolutions 32 and 24, twice: the second pass
  // runs from the plan cache and must give the same results as the first.
  for (int pass = 0; pass < 2; ++pass)
    for (int64_t c : {160, 144})
      for (int64_t r : {32, 24}) {
        Tensor x = test::normal_tensor({8, c, r, r}, 60 + c + r),
               w = test::normal_tensor({c, c, 3, 3}, 61, DType::f32, 0.05);
        Tensor yg = ops::conv2d_forward(x.to(gpu()), w.to(gpu()), test::conv_args(1, 1));
        test::check_gpu_close_scaled(yg, ops::conv2d_forward(x, w, test::conv_args(1, 1)), 5e-3,
                                     cat("pass ", pass, " width ", c, " resolution ", r));
      }
}
