// conv2d kernels against PyTorch goldens (tests/fixtures/conv2d.txt): forward, backward-data and
// backward-weight in float32 and float64 over dense, strided, dilated, grouped, depthwise and
// pointwise cases; sliced weights read and written in place; bad shapes rejected with clear errors.
#include <doctest/doctest.h>
#include <omp.h>

#include "tensor/ops.h"
#include "tests/fixtures/fixtures.h"

using namespace mn;
using mn::test::check_close;
using mn::test::conv_args;
using mn::test::corner_of_larger;
using mn::test::normal_tensor;
using mn::test::relative_error;
using mn::test::strided;
using mn::test::tol;

namespace {

Conv2dArgs args_of(const test::FixtureCase& c) {
  Conv2dArgs a;
  a.stride_h = c.iparam("stride_h");
  a.stride_w = c.iparam("stride_w");
  a.pad_h = c.iparam("pad_h");
  a.pad_w = c.iparam("pad_w");
  a.dil_h = c.iparam("dil_h");
  a.dil_w = c.iparam("dil_w");
  a.groups = c.iparam("groups");
  return a;
}

}  // namespace

TEST_CASE("conv2d matches PyTorch: forward, backward-data, backward-weight") {
  for (const auto& c : test::load_fixture("conv2d")) {
    for (DType dt : {DType::f32, DType::f64}) {
      const std::string what = c.name + " " + dtype_name(dt);
      const Conv2dArgs a = args_of(c);
      Tensor x = c.tensor("x", dt), w = c.tensor("w", dt), dy = c.tensor("dy", dt);
      check_close(ops::conv2d_forward(x, w, a), c.tensor("y"), tol(dt), tol(dt), what + " y");
      check_close(ops::conv2d_backward_data(dy, w, x.shape(), a), c.tensor("dx"), tol(dt), tol(dt),
                  what + " dx");
      Tensor dw = Tensor::empty(w.shape(), dt);
      ops::conv2d_backward_weight(x, dy, dw, a, false);
      check_close(dw, c.tensor("dw"), tol(dt), tol(dt), what + " dw");
      // accumulate adds to what is there
      ops::conv2d_backward_weight(x, dy, dw, a, true);
      check_close(dw, ops::scale(c.tensor("dw"), 2), tol(dt), tol(dt), what + " dw accumulated");
    }
  }
}

TEST_CASE("conv2d reads a sliced weight and writes a sliced weight gradient in place") {
  for (const auto& c : test::load_fixture("conv2d")) {
    const Conv2dArgs a = args_of(c);
    Tensor x = c.tensor("x"), dy = c.tensor("dy");
    Tensor w = corner_of_larger(c.tensor("w"), 3, 2);
    REQUIRE(!w.is_contiguous());
    check_close(ops::conv2d_forward(x, w, a), c.tensor("y"), 1e-10, 1e-10, c.name + " sliced w y");
    check_close(ops::conv2d_backward_data(dy, w, x.shape(), a), c.tensor("dx"), 1e-10, 1e-10,
                c.name + " sliced w dx");

    // The gradient lands in exactly the sliced region of a larger buffer, which keeps its values
    // elsewhere.
    Shape full = w.shape();
    full[0] += 3;
    full[1] += 2;
    Tensor grad = Tensor::full(full, 0.5, DType::f64);
    Tensor region = grad.slice(0, 0, w.size(0)).slice(1, 0, w.size(1));
    ops::conv2d_backward_weight(x, dy, region, a, true);
    check_close(region, ops::add_scalar(c.tensor("dw"), 0.5), 1e-10, 1e-10, c.name + " region");
    Tensor outside = grad.slice(0, w.size(0), full[0]);
    check_close(outside, Tensor::full(outside.shape(), 0.5, DType::f64), 0, 0, c.name + " rows");
    outside = grad.slice(1, w.size(1), full[1]);
    check_close(outside, Tensor::full(outside.shape(), 0.5, DType::f64), 0, 0, c.name + " cols");
  }
}

TEST_CASE("conv2d takes non-contiguous inputs and weights of any layout") {
  const auto cases = test::load_fixture("conv2d");
  const auto& c = cases.front();
  const Conv2dArgs a = args_of(c);
  Tensor x = strided(c.tensor("x")), w = strided(c.tensor("w")), dy = strided(c.tensor("dy"));
  REQUIRE(!x.is_contiguous());
  check_close(ops::conv2d_forward(x, w, a), c.tensor("y"), 1e-10, 1e-10, "y");
  check_close(ops::conv2d_backward_data(dy, w, x.shape(), a), c.tensor("dx"), 1e-10, 1e-10, "dx");
  Tensor dw = strided(Tensor::zeros(c.shape("w"), DType::f64));  // not row-packed
  dw.zero_();
  ops::conv2d_backward_weight(x, dy, dw, a, true);
  check_close(dw, c.tensor("dw"), 1e-10, 1e-10, "dw");
}

TEST_CASE("conv2d gives the same result for any thread count") {
  // Big enough that images are split across threads and several share one GEMM.
  Tensor x = normal_tensor({9, 6, 10, 10}, 1, DType::f64), w = normal_tensor({8, 3, 3, 3}, 2, DType::f64);
  const Conv2dArgs a = conv_args(1, 1, 1, 2);
  Tensor dy = normal_tensor(ops::conv2d_output_shape(x.shape(), w.shape(), a), 3, DType::f64);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  Tensor y1 = ops::conv2d_forward(x, w, a), dx1 = ops::conv2d_backward_data(dy, w, x.shape(), a);
  Tensor dw1 = Tensor::empty(w.shape(), DType::f64);
  ops::conv2d_backward_weight(x, dy, dw1, a, false);
  for (int threads : {2, 3, 4}) {
    omp_set_num_threads(threads);
    check_close(ops::conv2d_forward(x, w, a), y1, 1e-12, 1e-12, "y");
    check_close(ops::conv2d_backward_data(dy, w, x.shape(), a), dx1, 1e-12, 1e-12, "dx");
    Tensor dw = Tensor::empty(w.shape(), DType::f64);
    ops::conv2d_backward_weight(x, dy, dw, a, false);
    check_close(dw, dw1, 1e-12, 1e-12, "dw");
  }
  omp_set_num_threads(saved);
}

TEST_CASE("conv2d rejects bad shapes, arguments and dtypes") {
  Tensor x = Tensor::zeros({2, 24, 8, 8}), w = Tensor::zeros({32, 32, 3, 3});
  Tensor w4 = Tensor::zeros({4, 24, 3, 3}), w8 = Tensor::zeros({32, 8, 3, 3});
  Conv2dArgs a;
  CHECK_THROWS_WITH_AS(ops::conv2d_forward(x, w, a),
                       "conv2d: input (2, 24, 8, 8) has 24 channels, weight (32, 32, 3, 3) with "
                       "groups 1 expects 32", Error);
  Tensor x3 = Tensor::zeros({3, 8, 8});
  CHECK_THROWS_WITH_AS(ops::conv2d_forward(x3, w, a),
                       "conv2d: input must be 4-D (N, C, H, W), got (3, 8, 8)", Error);
  Tensor tiny = Tensor::zeros({2, 24, 2, 2});
  CHECK_THROWS_WITH_AS(ops::conv2d_forward(tiny, w4, a),
                       "conv2d: input (2, 24, 2, 2) padded by (0, 0) is smaller than the kernel "
                       "(4, 24, 3, 3) dilated by (1, 1)", Error);
  a.groups = 5;
  CHECK_THROWS_WITH_AS(ops::conv2d_forward(x, w8, a),
                       "conv2d: weight (32, 8, 3, 3) has 32 output channels, not divisible by "
                       "groups 5", Error);
  a = {};
  a.stride_h = 0;
  CHECK_THROWS_WITH_AS(ops::conv2d_forward(x, w4, a), "conv2d: stride must be >= 1, got (0, 1)",
                       Error);
  a = {};
  a.pad_w = -1;
  CHECK_THROWS_WITH_AS(ops::conv2d_forward(x, w4, a),
                       "conv2d: padding must be >= 0, got (0, -1)", Error);
  a = {};
  a.dil_h = 0;
  CHECK_THROWS_WITH_AS(ops::conv2d_forward(x, w4, a), "conv2d: dilation must be >= 1, got (0, 1)",
                       Error);
  a = {};
  Tensor w4_f64 = w4.to(DType::f64);
  CHECK_THROWS_WITH_AS(ops::conv2d_forward(x, w4_f64, a),
                       "conv2d: input is float32 but weight is float64", Error);
  Tensor xi = x.to(DType::i64), w4i = w4.to(DType::i64);
  CHECK_THROWS_WITH_AS(ops::conv2d_forward(xi, w4i, a),
                       "conv2d: input must be float32 or float64, got int64", Error);
  Tensor bad_dy = Tensor::zeros({2, 4, 7, 6});
  CHECK_THROWS_WITH_AS(ops::conv2d_backward_data(bad_dy, w4, x.shape(), a),
                       "conv2d backward: output gradient (2, 4, 7, 6) does not match the output "
                       "(2, 4, 6, 6) of input (2, 24, 8, 8) and weight (4, 24, 3, 3)", Error);
  Tensor dw = Tensor::zeros({4, 24, 3, 3}), dy5 = Tensor::zeros({2, 5, 6, 6});
  CHECK_THROWS_WITH_AS(ops::conv2d_backward_weight(x, dy5, dw, a, false),
                       "conv2d backward: output gradient (2, 5, 6, 6) does not match the output "
                       "(2, 4, 6, 6) of input (2, 24, 8, 8) and weight gradient (4, 24, 3, 3)",
                       Error);
}

namespace {

// Plain loops over the definition, in float64: y[n,o,i,j] = sum w[o,c,ki,kj] x[n,g*Cg+c, i*s-p+ki,
// j*s-p+kj]; dx and dw are its adjoints for an output gradient dy.
struct NaiveConv {
  Tensor y, dx, dw;
};
struct NaiveConvCase {
  int64_t N, C, O, H, k;
  int s, p;
};
NaiveConv naive_conv(const Tensor& xt, const Tensor& wt, const Tensor& dyt, int s, int p) {
  const int64_t N = xt.size(0), C = xt.size(1), H = xt.size(2), W = xt.size(3);
  const int64_t O = wt.size(0), k = wt.size(2), Ho = dyt.size(2), Wo = dyt.size(3);
  std::vector<double> x = xt.to(DType::f64).to_vector<double>(), w = wt.to(DType::f64).to_vector<double>();
  std::vector<double> dy = dyt.to(DType::f64).to_vector<double>();
  std::vector<double> y(N * O * Ho * Wo, 0.0), dx(x.size(), 0.0), dw(w.size(), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t ki = 0; ki < k; ++ki)
              for (int64_t kj = 0; kj < k; ++kj) {
                const int64_t ih = i * s - p + ki, iw = j * s - p + kj;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t xi = ((n * C + c) * H + ih) * W + iw, wi = ((o * C + c) * k + ki) * k + kj;
                const int64_t yi = ((n * O + o) * Ho + i) * Wo + j;
                y[yi] += w[wi] * x[xi];
                dx[xi] += w[wi] * dy[yi];
                dw[wi] += x[xi] * dy[yi];
              }
  return {Tensor::from_vector(y, {N, O, Ho, Wo}), Tensor::from_vector(dx, xt.shape()),
          Tensor::from_vector(dw, wt.shape())};
}

}  // namespace

TEST_CASE("conv2d matches plain loops on deep inputs, strides, pointwise and many small images") {
  using Case = NaiveConvCase;
  // Deep 3x3 inputs (long GEMM columns), stride 2, 1x1 read in place or strided, 5x5 images that
  // share a GEMM with a partial last group, an unpadded 3x3, and a 1-channel image conv (in float32
  // the last and the first two take oneDNN when mn is built with it).
  const Case cases[] = {{3, 48, 16, 20, 3, 1, 1}, {3, 48, 16, 20, 3, 2, 1}, {2, 48, 8, 20, 1, 1, 0},
                        {2, 48, 8, 20, 1, 2, 0},  {7, 12, 10, 5, 3, 1, 1},  {3, 64, 8, 9, 3, 1, 0},
                        {5, 1, 16, 28, 3, 1, 1}};
  for (const Case& c : cases) {
    for (DType dt : {DType::f32, DType::f64}) {
      const Conv2dArgs a = conv_args(c.s, c.p);
      Tensor x = normal_tensor({c.N, c.C, c.H, c.H}, 5, dt), w = normal_tensor({c.O, c.C, c.k, c.k}, 6, dt);
      Tensor dy = normal_tensor(ops::conv2d_output_shape(x.shape(), w.shape(), a), 7, dt);
      const NaiveConv ref = naive_conv(x, w, dy, c.s, c.p);
      const std::string what = "N" + std::to_string(c.N) + " C" + std::to_string(c.C) + " H" +
                               std::to_string(c.H) + " k" + std::to_string(c.k) + " s" +
                               std::to_string(c.s) + " " + dtype_name(dt);
      const double t = dt == DType::f32 ? 1e-4 : 1e-11;
      check_close(ops::conv2d_forward(x, w, a), ref.y, t, t, what + " y");
      check_close(ops::conv2d_backward_data(dy, w, x.shape(), a), ref.dx, t, t, what + " dx");
      Tensor dw = Tensor::empty(w.shape(), dt);
      ops::conv2d_backward_weight(x, dy, dw, a, false);
      check_close(dw, ref.dw, t, t, what + " dw");
    }
  }
}

TEST_CASE("conv2d float32 3x3 with a width-sliced weight: outputs, and gradients into the region") {
  // 32 of 40 output and 24 of 30 input channels: the path oneDNN takes when mn is built with it.
  const Conv2dArgs a = conv_args(1, 1);
  Tensor x = normal_tensor({2, 24, 9, 9}, 8, DType::f32);
  Tensor w = corner_of_larger(normal_tensor({32, 24, 3, 3}, 9, DType::f32), 8, 6);
  REQUIRE(!w.is_contiguous());
  Tensor dy = normal_tensor({2, 32, 9, 9}, 10, DType::f32);
  const NaiveConv ref = naive_conv(x, w, dy, 1, 1);
  check_close(ops::conv2d_forward(x, w, a), ref.y, 1e-4, 1e-4, "y");
  check_close(ops::conv2d_backward_data(dy, w, x.shape(), a), ref.dx, 1e-4, 1e-4, "dx");
  Tensor grad = Tensor::full({40, 30, 3, 3}, 0.5, DType::f32);
  Tensor region = grad.slice(0, 0, 32).slice(1, 0, 24);
  ops::conv2d_backward_weight(x, dy, region, a, true);
  check_close(region, ops::add_scalar(ref.dw, 0.5), 1e-4, 1e-4, "dw accumulated into the region");
  Tensor outside = grad.slice(0, 32, 40);
  check_close(outside, Tensor::full(outside.shape(), 0.5, DType::f32), 0, 0, "rows outside");
  ops::conv2d_backward_weight(x, dy, region, a, false);
  check_close(region, ref.dw, 1e-4, 1e-4, "dw overwritten");
}

TEST_CASE("conv2d float32 3x3 gives bitwise the same result on every call") {
  // Exact resume needs it; 32 channels take the oneDNN path when mn is built with it.
  const Conv2dArgs a = conv_args(1, 1);
  Tensor x = normal_tensor({16, 32, 14, 14}, 11, DType::f32),
         w = normal_tensor({32, 32, 3, 3}, 12, DType::f32);
  Tensor dy = normal_tensor({16, 32, 14, 14}, 13, DType::f32);
  Tensor dw1 = Tensor::empty(w.shape(), DType::f32), dw2 = Tensor::empty(w.shape(), DType::f32);
  ops::conv2d_backward_weight(x, dy, dw1, a, false);
  ops::conv2d_backward_weight(x, dy, dw2, a, false);
  CHECK(dw1.to_vector<float>() == dw2.to_vector<float>());
  CHECK(ops::conv2d_forward(x, w, a).to_vector<float>() == ops::conv2d_forward(x, w, a).to_vector<float>());
  CHECK(ops::conv2d_backward_data(dy, w, x.shape(), a).to_vector<float>() ==
        ops::conv2d_backward_data(dy, w, x.shape(), a).to_vector<float>());
}

TEST_CASE("conv2d float32 3x3 on the channel counts of MutualNet widths (not multiples of 16)") {
  const Conv2dArgs a = conv_args(1, 1);
  const int64_t channels[][2] = {{16, 20}, {20, 28}, {28, 44}, {44, 52}, {52, 100}, {100, 124}, {36, 36}};
  for (const auto& co : channels) {
    for (int64_t H : {7, 12}) {
      Tensor x = normal_tensor({3, co[0], H, H}, 20 + H, DType::f32);
      Tensor w = normal_tensor({co[1], co[0], 3, 3}, 21, DType::f32);
      Tensor dy = normal_tensor({3, co[1], H, H}, 22, DType::f32);
      const NaiveConv ref = naive_conv(x, w, dy, 1, 1);
      const std::string what = std::to_string(co[0]) + "->" + std::to_string(co[1]) + " at " + std::to_string(H);
      check_close(ops::conv2d_forward(x, w, a), ref.y, 1e-4, 1e-4, what + " y");
      check_close(ops::conv2d_backward_data(dy, w, x.shape(), a), ref.dx, 1e-4, 1e-4, what + " dx");
      Tensor dw = Tensor::full(w.shape(), 1.0, DType::f32);
      ops::conv2d_backward_weight(x, dy, dw, a, true);
      check_close(dw, ops::add_scalar(ref.dw, 1.0), 1e-4, 1e-4, what + " dw accumulated");
    }
  }
}

TEST_CASE("conv2d_backward gives bitwise the two passes called one by one") {
  // On oneDNN's path the combined call reorders dy once and the weight-gradient calls read their
  // images of it in place; the numbers must not change. 3x3 at stride 1 and 2 (one image, and
  // several images, per weight-gradient call), a width-sliced weight, a 1x1 and float64 (mn's own
  // path), and bfloat16 where the CPU has it.
  const NaiveConvCase cases[] = {{6, 32, 48, 28, 3, 1, 1}, {9, 32, 48, 14, 3, 2, 1}, {5, 16, 16, 7, 3, 1, 1},
                                 {4, 24, 40, 9, 1, 1, 0}};
  Backend& cpu = backend(Device::cpu());
  const bool bf16 = [&] {
    try {
      cpu.set_precision(Precision::bf16);
      cpu.set_precision(Precision::fp32);
      return true;
    } catch (const Error&) {
      return false;
    }
  }();
  for (const Precision precision : {Precision::fp32, Precision::bf16}) {
    if (precision == Precision::bf16 && !bf16) continue;
    cpu.set_precision(precision);
    for (const NaiveConvCase& c : cases) {
      for (DType dt : {DType::f32, DType::f64}) {
        const Conv2dArgs a = conv_args(c.s, c.p);
        Tensor x = normal_tensor({c.N, c.C, c.H, c.H}, 50, dt);
        Tensor w = corner_of_larger(normal_tensor({c.O, c.C, c.k, c.k}, 51, dt), 8, 4);
        Tensor dy = normal_tensor(ops::conv2d_output_shape(x.shape(), w.shape(), a), 52, dt);
        const auto [dx, dw] = ops::conv2d_backward(dy, x, w, a);
        Tensor dw_alone = Tensor::empty(w.shape(), dt);
        ops::conv2d_backward_weight(x, dy, dw_alone, a, false);
        INFO(c.C << "->" << c.O << " k" << c.k << " s" << c.s << " " << dtype_name(dt)
                 << (precision == Precision::bf16 ? " in bf16" : ""));
        if (dt == DType::f32) {
          CHECK(dx.to_vector<float>() == ops::conv2d_backward_data(dy, w, x.shape(), a).to_vector<float>());
          CHECK(dw.to_vector<float>() == dw_alone.to_vector<float>());
        } else {
          CHECK(dx.to_vector<double>() == ops::conv2d_backward_data(dy, w, x.shape(), a).to_vector<double>());
          CHECK(dw.to_vector<double>() == dw_alone.to_vector<double>());
        }
      }
    }
  }
  cpu.set_precision(Precision::fp32);
}

TEST_CASE("conv2d float32 over a whole training batch stays within float32's rounding (1e-6)") {
  // The first WRN stage at batch 128: every weight-gradient entry sums 128 * 28 * 28 = 100352
  // products. mn's GEMM path stays near 4e-7 of the float64 result in all three directions;
  // oneDNN's weight gradient over the whole batch in one call measured 3.8e-6 here (its forward
  // and input gradient ~2e-7), and the default training run lost 0.3-0.6 points with it, so mn
  // calls it one image at a time and adds the images up in a tree (5.0e-7).
  const Conv2dArgs a = conv_args(1, 1);
  Tensor x = normal_tensor({128, 32, 28, 28}, 30, DType::f32),
         w = normal_tensor({32, 32, 3, 3}, 31, DType::f32);
  Tensor dy = normal_tensor({128, 32, 28, 28}, 32, DType::f32);
  Tensor x64 = x.to(DType::f64), w64 = w.to(DType::f64), dy64 = dy.to(DType::f64);
  CHECK(relative_error(ops::conv2d_forward(x, w, a), ops::conv2d_forward(x64, w64, a)) < 1e-6);
  CHECK(relative_error(ops::conv2d_backward_data(dy, w, x.shape(), a),
                       ops::conv2d_backward_data(dy64, w64, x.shape(), a)) < 1e-6);
  Tensor dw = Tensor::empty(w.shape(), DType::f32), dw64 = Tensor::empty(w.shape(), DType::f64);
  ops::conv2d_backward_weight(x, dy, dw, a, false);
  ops::conv2d_backward_weight(x64, dy64, dw64, a, false);
  CHECK(relative_error(dw, dw64) < 1e-6);
}

TEST_CASE("conv2d in bfloat16 on the CPU: float32 sums of rounded operands, or a clear refusal") {
  Backend& cpu = backend(Device::cpu());
  CHECK_THROWS_WITH_AS(cpu.set_precision(Precision::tf32),
                       "precision = \"tf32\" is a CUDA mode; on the CPU use \"fp32\" or \"bf16\"", Error);
  std::string refusal;
  try {
    cpu.set_precision(Precision::bf16);
  } catch (const Error& e) {
    refusal = e.what();
  }
  if (!refusal.empty()) {
    CHECK(refusal.rfind("precision = \"bf16\" needs ", 0) == 0);
    MESSAGE("skipped: " << refusal);
    return;
  }
  // 3x3 at stride 1 and 2, a 1x1 and the 1-channel image conv: in bfloat16 all take oneDNN.
  const NaiveConvCase cases[] = {{4, 32, 48, 14, 3, 1, 1}, {4, 32, 48, 14, 3, 2, 1}, {4, 8, 12, 14, 1, 1, 0},
                                 {4, 1, 16, 28, 3, 1, 1}};
  for (const NaiveConvCase& c : cases) {
    const Conv2dArgs a = conv_args(c.s, c.p);
    Tensor x = normal_tensor({c.N, c.C, c.H, c.H}, 40, DType::f32), w = normal_tensor({c.O, c.C, c.k, c.k}, 41, DType::f32);
    Tensor dy = normal_tensor(ops::conv2d_output_shape(x.shape(), w.shape(), a), 42, DType::f32);
    const NaiveConv ref = naive_conv(x, w, dy, c.s, c.p);
    Tensor dw = Tensor::empty(w.shape(), DType::f32);
    ops::conv2d_backward_weight(x, dy, dw, a, false);
    const double errors[] = {relative_error(ops::conv2d_forward(x, w, a), ref.y),
                             relative_error(ops::conv2d_backward_data(dy, w, x.shape(), a), ref.dx),
                             relative_error(dw, ref.dw)};
    for (double e : errors) {
      // bfloat16 keeps 8 significant bits (relative rounding 2^-9 = 2e-3 per operand); float32
      // operands would be at 1e-7, so the lower bound shows the bfloat16 kernels ran.
      CHECK(e < 1e-2);
      CHECK(e > 1e-4);
    }
  }
  cpu.set_precision(Precision::fp32);
}
