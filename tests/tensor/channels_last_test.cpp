// Channels-last (NHWC) activations on the CPU (memory_format = "nhwc", the default when mn is built
// with oneDNN) against the NCHW path: batch norm's row kernels (plain, fused with ReLU, the
// synchronized phases), oneDNN's NHWC convolutions (every pass, every conv shape a model has,
// depthwise included; the NCHW kernels on converted copies for float64), the ops that run through
// NCHW copies, elementwise ops on channels-last operands, and a whole layer stack through autograd
// on width-sliced weights. Every result must itself be channels-last.
#include <doctest/doctest.h>

#include <tuple>

#include "autograd/functions.h"
#include "tensor/conv2d_dnnl.h"
#include "tensor/ops.h"
#include "tests/common/test_util.h"

using namespace mn;

namespace {

constexpr MemoryFormat kNhwc = MemoryFormat::channels_last;

// The CPU in channels-last for one test case.
struct NhwcGuard {
  NhwcGuard() { backend(Device::cpu()).set_memory_format(kNhwc); }
  ~NhwcGuard() { backend(Device::cpu()).set_memory_format(MemoryFormat::contiguous); }
  NhwcGuard(const NhwcGuard&) = delete;
  NhwcGuard& operator=(const NhwcGuard&) = delete;
};

// The NCHW tensor and its channels-last copy.
struct Pair {
  Tensor nchw, nhwc;
};
Pair pair(const Tensor& x) { return {x, x.contiguous(kNhwc)}; }
Pair normal_pair(const Shape& s, uint64_t seed, DType dtype) { return pair(test::normal_tensor(s, seed, dtype)); }

void check_layout(const Tensor& t, const std::string& what) {
  CHECK_MESSAGE(t.is_contiguous(kNhwc), what, ": strides ", shape_str(t.strides()), " for ",
                shape_str(t.shape()), " are not channels-last");
}

// Float32 results differ from NCHW's by the order of their sums; float64's bound is that order's
// rounding too, a million times tighter, so a wrong term fails it.
double tol(DType dtype) { return dtype == DType::f64 ? 1e-11 : 1e-5; }

void check(const Tensor& nhwc, const Tensor& nchw, const std::string& what) {
  check_layout(nhwc, what);
  test::check_close_scaled(nhwc, nchw, tol(nchw.dtype()), what);
}

// Runs f with the CPU in NCHW (the reference) and then in NHWC on the channels-last copies.
template <class F>
auto both(F&& f) {
  auto expected = f(false);
  NhwcGuard nhwc;
  return std::pair{expected, f(true)};
}

const DType kDtypes[] = {DType::f32, DType::f64};

}  // namespace

TEST_CASE("cpu nhwc: batch norm, plain and fused with ReLU, training and eval, matches NCHW") {
  // One row block and several (kBlockRows = 256 rows), C of 1 (an ambiguous layout), plane of 1.
  const Shape shapes[] = {{8, 16, 6, 6}, {4, 70, 5, 3}, {16, 24, 12, 12}, {8, 1, 9, 9}, {40, 5, 1, 1}};
  for (DType dtype : kDtypes)
    for (const Shape& s : shapes)
      for (bool training : {true, false})
        for (bool relu : {false, true}) {
          const std::string what = cat(dtype_name(dtype), " ", shape_str(s), training ? " training" : " eval",
                                       relu ? " relu" : "");
          const int64_t C = s[1];
          Pair x = pair(ops::add_scalar(test::normal_tensor(s, 14, dtype, 2.0), 0.5));
          Pair dy = normal_pair(s, 19, dtype);
          Tensor gamma = test::normal_tensor({C}, 15, dtype), beta = test::normal_tensor({C}, 16, dtype);
          Tensor rm0 = test::normal_tensor({C}, 17, dtype), rv0 = ops::add_scalar(ops::abs(test::normal_tensor({C}, 18, dtype)), 0.5);
          struct Out {
            ops::BatchNormOutput fwd;
            ops::BatchNormGrads grads;
            Tensor rm, rv;
          };
          auto [ref, got] = both([&](bool nhwc) {
            Out o{{}, {}, rm0.clone(), rv0.clone()};
            const Tensor& in = nhwc ? x.nhwc : x.nchw;
            o.fwd = ops::batchnorm_forward(in, gamma, beta, o.rm, o.rv, training, 0.1, 1e-5, relu);
            o.grads = ops::batchnorm_backward(nhwc ? dy.nhwc : dy.nchw, in, gamma, o.fwd.save_mean, o.fwd.save_invstd,
                                              training, relu ? o.fwd.y : Tensor());
            return o;
          });
          check(got.fwd.y, ref.fwd.y, what + " y");
          test::check_close(got.fwd.save_mean, ref.fwd.save_mean, tol(dtype), tol(dtype), what + " saved mean");
          test::check_close(got.fwd.save_invstd, ref.fwd.save_invstd, tol(dtype), 0, what + " saved invstd");
          test::check_close(got.rm, ref.rm, tol(dtype), tol(dtype), what + " running mean");
          test::check_close(got.rv, ref.rv, tol(dtype), tol(dtype), what + " running var");
          check(got.grads.dx, ref.grads.dx, what + " dx");
          test::check_close_scaled(got.grads.dgamma, ref.grads.dgamma, tol(dtype), what + " dgamma");
          test::check_close_scaled(got.grads.dbeta, ref.grads.dbeta, tol(dtype), what + " dbeta");
        }
}

TEST_CASE("cpu nhwc: batch norm in phases (synchronized batch norm) matches NCHW") {
  for (DType dtype : kDtypes)
    for (const Shape& s : {Shape{16, 24, 6, 6}, Shape{8, 40, 9, 5}}) {
      const int64_t C = s[1];
      const double count = static_cast<double>(s[0] * s[2] * s[3]);
      Pair x = pair(ops::add_scalar(test::normal_tensor(s, 41, dtype), 0.3)), dy = normal_pair(s, 42, dtype);
      Pair relu_y = pair(ops::relu(test::normal_tensor(s, 45, dtype)));
      Tensor gamma = test::normal_tensor({C}, 43, dtype), invstd = ops::add_scalar(ops::abs(test::normal_tensor({C}, 44, dtype)), 0.5);
      for (bool relu : {true, false}) {
        const std::string what = cat(dtype_name(dtype), " ", shape_str(s), relu ? " with ReLU" : " without ReLU");
        struct Out {
          ops::BatchNormStats stats;
          ops::BatchNormSums sums;
          Tensor dx;
        };
        auto [ref, got] = both([&](bool nhwc) {
          const Tensor& xs = nhwc ? x.nhwc : x.nchw;
          const Tensor& g = nhwc ? dy.nhwc : dy.nchw;
          const Tensor mask = relu ? (nhwc ? relu_y.nhwc : relu_y.nchw) : Tensor();
          Out o;
          o.stats = ops::batchnorm_stats(xs);
          o.sums = ops::batchnorm_backward_reduce(g, xs, mask, o.stats.mean);
          o.dx = ops::batchnorm_backward_apply(g, xs, mask, o.stats.mean, invstd, gamma, o.sums, count);
          return o;
        });
        test::check_close(got.stats.mean, ref.stats.mean, tol(dtype), tol(dtype), what + " mean");
        test::check_close(got.stats.var, ref.stats.var, tol(dtype), tol(dtype), what + " var");
        test::check_close_scaled(got.sums.sum_g, ref.sums.sum_g, tol(dtype), what + " sum_g");
        test::check_close_scaled(got.sums.sum_gx, ref.sums.sum_gx, tol(dtype), what + " sum_gx");
        check(got.dx, ref.dx, what + " dx");
      }
    }
}

TEST_CASE("cpu nhwc: pooling, resize and pad (NCHW kernels on converted copies) equal NCHW exactly") {
  for (const Shape& s : {Shape{4, 6, 11, 11}, Shape{2, 33, 8, 9}}) {
    const std::string what = shape_str(s);
    Pair x = normal_pair(s, 20, DType::f32);
    const Pool2dArgs args{3, 3, 2, 2, 1, 1};
    auto [ref, got] = both([&](bool nhwc) {
      const Tensor& in = nhwc ? x.nhwc : x.nchw;
      std::vector<Tensor> r;
      auto m = ops::maxpool2d_forward(in, args);
      r.push_back(m.y);
      r.push_back(ops::maxpool2d_backward(ops::scale(m.y, 0.5), m.indices, s));
      Tensor a = ops::avgpool2d_forward(in, args);
      r.push_back(a);
      r.push_back(ops::avgpool2d_backward(ops::scale(a, -2.0), s, args));
      Tensor p = ops::adaptive_avgpool2d_forward(in, 3, 2);
      r.push_back(p);
      r.push_back(ops::adaptive_avgpool2d_backward(p, s));
      Tensor z = ops::resize_bilinear_forward(in, 7, 8, false);
      r.push_back(z);
      r.push_back(ops::resize_bilinear_backward(z, s, false));
      Tensor d = ops::pad2d_forward(in, {2, 1, 3, 2}, PadMode::reflect);
      r.push_back(d);
      r.push_back(ops::pad2d_backward(d, s, {2, 1, 3, 2}, PadMode::reflect));
      return r;
    });
    const char* names[] = {"max pool", "max pool backward", "avg pool", "avg pool backward", "adaptive pool",
                           "adaptive pool backward", "resize", "resize backward", "pad", "pad backward"};
    for (size_t i = 0; i < ref.size(); ++i) {
      check_layout(got[i], what + " " + names[i]);
      test::check_equal(got[i], ref[i], what + " " + names[i]);
    }
  }
}

TEST_CASE("cpu nhwc: elementwise ops on channels-last operands keep the layout") {
  const Shape s{4, 6, 5, 7};
  Pair a = normal_pair(s, 2, DType::f32), b = normal_pair(s, 3, DType::f32);
  Tensor bias = test::normal_tensor({1, 6, 1, 1}, 4);
  auto same = [](const Tensor& got, const Tensor& ref, const std::string& what) {
    check_layout(got, what);
    test::check_equal(got, ref, what);
  };
  same(ops::add(a.nhwc, b.nhwc), ops::add(a.nchw, b.nchw), "residual add");
  same(ops::relu(a.nhwc), ops::relu(a.nchw), "relu");
  same(ops::mul(a.nhwc, bias), ops::mul(a.nchw, bias), "broadcast bias");
  Tensor acc = a.nhwc.clone().contiguous(kNhwc);
  ops::add_(acc, b.nhwc);
  same(acc, ops::add(a.nchw, b.nchw), "in-place add (gradient accumulation)");
  same(ops::add(a.nhwc, b.nchw), ops::add(a.nchw, b.nchw), "NHWC + NCHW, the output following the first");
  CHECK(ops::add(b.nchw, a.nhwc).is_contiguous());
  // Large enough for the threads to split the data: every element visited once.
  Pair big = normal_pair({8, 32, 16, 16}, 5, DType::f32);
  same(ops::scale(big.nhwc, 3.0), ops::scale(big.nchw, 3.0), "threaded scale");
}

TEST_CASE("cpu nhwc: convolutions through autograd on width-sliced weights match NCHW") {
  struct Case {
    Shape x, w;
    Conv2dArgs args;
  };
  // A WRN's convs at every width (3x3 dense and strided, 1x1 strided shortcut, the 1-channel image
  // conv, channel counts under 16 and off the 16-lane block), and MobileNet's depthwise convs,
  // plain and strided, and a grouped conv.
  const Case cases[] = {{{8, 16, 12, 12}, {32, 16, 3, 3}, test::conv_args(1, 1)},
                        {{8, 24, 12, 12}, {48, 24, 3, 3}, test::conv_args(2, 1)},
                        {{8, 32, 10, 10}, {64, 32, 1, 1}, test::conv_args(2, 0)},
                        {{8, 1, 14, 14}, {12, 1, 3, 3}, test::conv_args(1, 1)},
                        {{8, 4, 9, 9}, {8, 4, 3, 3}, test::conv_args(1, 1)},
                        {{4, 24, 9, 9}, {24, 1, 3, 3}, test::conv_args(1, 1, 1, 24)},
                        {{4, 40, 10, 10}, {40, 1, 3, 3}, test::conv_args(2, 1, 1, 40)},
                        {{4, 12, 7, 7}, {18, 4, 3, 3}, test::conv_args(1, 1, 1, 3)}};
  for (DType dtype : kDtypes)
    for (const Case& k : cases) {
      const std::string what = cat(dtype_name(dtype), " ", shape_str(k.x), " * ", shape_str(k.w));
      Shape full = k.w;  // the master weight; the sub-network uses its corner W[:o, :i]
      full[0] += 8;
      if (k.args.groups == 1) full[1] += 4;
      const Tensor master_values = test::normal_tensor(full, 8, dtype, 0.2);
      Pair x = normal_pair(k.x, 7, dtype);
      struct Out {
        Tensor y, dx, dw;
      };
      auto [ref, got] = both([&](bool nhwc) {
        Variable master(master_values.clone(), true);
        // nn::Conv2d's compute copy: KRSC under channels-last, the slice itself under NCHW.
        Variable w = master.slice(0, 0, k.w[0]).slice(1, 0, k.w[1]);
        if (nhwc) w = cast(w, dtype, kNhwc);
        Variable xv((nhwc ? x.nhwc : x.nchw).clone(), true);
        Variable y = conv2d(xv, w, std::nullopt, k.args);
        Tensor dy = test::normal_tensor(y.shape(), 9, dtype);
        y.backward(nhwc ? dy.contiguous(kNhwc) : dy);
        return Out{y.data(), xv.grad(), master.grad()};
      });
      check(got.y, ref.y, what + " forward");
      test::check_close_scaled(got.dx, ref.dx, tol(dtype), what + " input gradient");  // a leaf's, stored NCHW
      test::check_close_scaled(got.dw, ref.dw, tol(dtype), what + " master weight gradient");
      // oneDNN took every float32 conv (the bound above is its rounding), NCHW's kernels float64.
      if (dnnl_conv::built) {
        NhwcGuard nhwc;
        CHECK_MESSAGE(dnnl_conv::applies(dnnl_conv::Pass::forward, k.x, k.w, dtype, k.args) == (dtype == DType::f32),
                      what);
      }
      // A weight gradient added into a channels-last buffer (both paths: oneDNN's, and NCHW's on
      // copies that must carry the buffer's values in).
      const Tensor dy = test::normal_tensor(ref.y.shape(), 9, dtype);
      Tensor dw_nchw = Tensor::empty(k.w, dtype);
      ops::conv2d_backward_weight(x.nchw, dy, dw_nchw, k.args, false);
      NhwcGuard nhwc;
      const Tensor before = test::normal_tensor(k.w, 10, dtype);
      Tensor dw = before.clone().contiguous(kNhwc);  // a 1x1 or 1-channel weight is channels-last already
      ops::conv2d_backward_weight(x.nhwc, dy.contiguous(kNhwc), dw, k.args, true);
      test::check_close_scaled(dw, ops::add(dw_nchw, before), tol(dtype), what + " accumulated weight gradient");
    }
}

TEST_CASE("cpu nhwc: float32 over a whole training batch stays within float32's rounding (1e-6)") {
  // conv2d_test.cpp's bound for NCHW, on oneDNN's NHWC kernels: the weight gradient's 100352
  // products per entry summed one image per call and added in a tree, against float64.
  const Conv2dArgs a = test::conv_args(1, 1);
  Tensor x = test::normal_tensor({128, 32, 28, 28}, 30), w = test::normal_tensor({32, 32, 3, 3}, 31);
  Tensor dy = test::normal_tensor({128, 32, 28, 28}, 32);
  Tensor x64 = x.to(DType::f64), w64 = w.to(DType::f64), dy64 = dy.to(DType::f64);
  const Tensor y64 = ops::conv2d_forward(x64, w64, a), dx64 = ops::conv2d_backward_data(dy64, w64, x.shape(), a);
  Tensor dw64 = Tensor::empty(w.shape(), DType::f64);
  ops::conv2d_backward_weight(x64, dy64, dw64, a, false);
  NhwcGuard nhwc;
  Tensor xl = x.contiguous(kNhwc), wl = w.contiguous(kNhwc), dyl = dy.contiguous(kNhwc);
  CHECK(test::relative_error(ops::conv2d_forward(xl, wl, a), y64) < 1e-6);
  CHECK(test::relative_error(ops::conv2d_backward_data(dyl, wl, x.shape(), a), dx64) < 1e-6);
  Tensor dw = Tensor::empty(w.shape(), DType::f32, Device::cpu(), kNhwc);
  ops::conv2d_backward_weight(xl, dyl, dw, a, false);
  CHECK(test::relative_error(dw, dw64) < 1e-6);
}

TEST_CASE("cpu nhwc: bfloat16 convolutions (where the CPU has them) match float32 NCHW to bfloat16's rounding") {
  if (!dnnl_conv::built || !dnnl_conv::bf16_supported()) return;  // a clear error elsewhere (conv2d_test.cpp)
  Backend& cpu = backend(Device::cpu());
  const Conv2dArgs a = test::conv_args(1, 1), down = test::conv_args(2, 1, 1, 24);
  for (const auto& [xs, ws, args] : {std::tuple{Shape{8, 16, 12, 12}, Shape{32, 16, 3, 3}, a},
                                     std::tuple{Shape{4, 24, 10, 10}, Shape{24, 1, 3, 3}, down}}) {
    const std::string what = cat(shape_str(xs), " * ", shape_str(ws));
    Pair x = normal_pair(xs, 60, DType::f32), w = normal_pair(ws, 61, DType::f32);
    const Tensor dy = test::normal_tensor(ops::conv2d_output_shape(xs, ws, args), 62);
    const Tensor y = ops::conv2d_forward(x.nchw, w.nchw, args);
    const auto [dx, dw] = ops::conv2d_backward(dy, x.nchw, w.nchw, args);
    NhwcGuard nhwc;
    cpu.set_precision(Precision::bf16);
    const Tensor yb = ops::conv2d_forward(x.nhwc, w.nhwc, args);
    const auto [dxb, dwb] = ops::conv2d_backward(dy.contiguous(kNhwc), x.nhwc, w.nhwc, args);
    cpu.set_precision(Precision::fp32);
    // Operands rounded to bfloat16 (8 bits), products summed in float32.
    test::check_close_scaled(yb, y, 2e-2, what + " forward");
    test::check_close_scaled(dxb, dx, 2e-2, what + " input gradient");
    test::check_close_scaled(dwb, dw, 2e-2, what + " weight gradient");
    check_layout(yb, what + " forward");
    check_layout(dxb, what + " input gradient");
  }
}
