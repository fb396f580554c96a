// conv2d dispatch: shape, dtype and device checks, output allocation, layout fix-ups; the kernels
// are CpuBackend::conv2d_* (tensor/conv2d_cpu.cpp) and CudaBackend's.
#include "tensor/conv2d.h"

#include "tensor/elementwise.h"
#include "tensor/op_checks.h"

namespace mn::ops {
namespace {

void check_args(const Conv2dArgs& a) {
  MN_CHECK(a.stride_h >= 1 && a.stride_w >= 1, "conv2d: stride must be >= 1, got (", a.stride_h,
           ", ", a.stride_w, ")");
  MN_CHECK(a.pad_h >= 0 && a.pad_w >= 0, "conv2d: padding must be >= 0, got (", a.pad_h, ", ",
           a.pad_w, ")");
  MN_CHECK(a.dil_h >= 1 && a.dil_w >= 1, "conv2d: dilation must be >= 1, got (", a.dil_h, ", ",
           a.dil_w, ")");
  MN_CHECK(a.groups >= 1, "conv2d: groups must be >= 1, got ", a.groups);
}

// The kernels read a weight as rows of C/groups * kh * kw packed values, one row per output
// channel, rows stride(0) apart: true for W[:o, :i] of a contiguous weight. Size-1 dims may carry
// any stride.
bool rows_packed(const Tensor& w) {
  int64_t expected = 1;
  for (int d = 3; d >= 1; --d) {
    if (w.size(d) != 1 && w.stride(d) != expected) return false;
    expected *= w.size(d);
  }
  return w.size(0) == 1 || w.stride(0) >= expected;
}

// A weight (or its gradient's buffer) as the backend reads it: rows_packed under NCHW; dense
// KRSC under channels-last (nn::Conv2d's compute copy of its slice is made so by its cast).
bool filter_ready(const Tensor& w, MemoryFormat fmt) {
  return fmt == MemoryFormat::channels_last ? w.is_contiguous(fmt) : rows_packed(w);
}
Tensor filter_for(const Tensor& w, MemoryFormat fmt) { return filter_ready(w, fmt) ? w : w.contiguous(fmt); }

}  // namespace

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dArgs& a) {
  check_args(a);
  MN_CHECK(x.size() == 4, "conv2d: input must be 4-D (N, C, H, W), got ", shape_str(x));
  MN_CHECK(w.size() == 4, "conv2d: weight must be 4-D (O, C/groups, kh, kw), got ", shape_str(w));
  MN_CHECK(w[0] % a.groups == 0, "conv2d: weight ", shape_str(w), " has ", w[0],
           " output channels, not divisible by groups ", a.groups);
  MN_CHECK(x[1] == w[1] * a.groups, "conv2d: input ", shape_str(x), " has ", x[1],
           " channels, weight ", shape_str(w), " with groups ", a.groups, " expects ",
           w[1] * a.groups);
  const int64_t span_h = int64_t(a.dil_h) * (w[2] - 1) + 1;
  const int64_t span_w = int64_t(a.dil_w) * (w[3] - 1) + 1;
  MN_CHECK(x[2] + 2 * a.pad_h >= span_h && x[3] + 2 * a.pad_w >= span_w, "conv2d: input ",
           shape_str(x), " padded by (", a.pad_h, ", ", a.pad_w, ") is smaller than the kernel ",
           shape_str(w), " dilated by (", a.dil_h, ", ", a.dil_w, ")");
  return {x[0], w[0], (x[2] + 2 * a.pad_h - span_h) / a.stride_h + 1,
          (x[3] + 2 * a.pad_w - span_w) / a.stride_w + 1};
}

namespace {

// dy must have the shape of the output of input x_shape and a weight (or its gradient) w_shape.
void check_output_grad(const Tensor& dy, const Shape& x_shape, const Shape& w_shape,
                       const Conv2dArgs& args, const char* w_what) {
  const Shape y_shape = conv2d_output_shape(x_shape, w_shape, args);
  MN_CHECK(dy.shape() == y_shape, "conv2d backward: output gradient ", shape_str(dy.shape()),
           " does not match the output ", shape_str(y_shape), " of input ", shape_str(x_shape),
           " and ", w_what, " ", shape_str(w_shape));
}

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Conv2dArgs& args) {
  check_activation("conv2d", x, "input");
  check_same("conv2d", x, "input", w, "weight");
  const Shape y_shape = conv2d_output_shape(x.shape(), w.shape(), args);
  Backend& be = backend(x.device());
  const MemoryFormat fmt = be.memory_format();
  Tensor y = Tensor::empty(y_shape, x.dtype(), x.device(), fmt);
  if (y.numel() == 0) return y;
  be.conv2d_forward(x.contiguous(fmt), filter_for(w, fmt), y, args);
  return y;
}

Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape,
                            const Conv2dArgs& args) {
  check_activation("conv2d backward", dy, "output gradient");
  check_same("conv2d backward", dy, "output gradient", w, "weight");
  check_output_grad(dy, x_shape, w.shape(), args, "weight");
  Backend& be = backend(dy.device());
  const MemoryFormat fmt = be.memory_format();
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device(), fmt);
  if (dx.numel() == 0) return dx;
  be.conv2d_backward_data(dy.contiguous(fmt), filter_for(w, fmt), dx, args);
  return dx;
}

void conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw,
                            const Conv2dArgs& args, bool accumulate) {
  check_activation("conv2d backward", x, "input");
  check_same("conv2d backward", x, "input", dy, "output gradient");
  check_same("conv2d backward", x, "input", dw, "weight gradient");
  check_output_grad(dy, x.shape(), dw.shape(), args, "weight gradient");
  if (dw.numel() == 0) return;
  Backend& be = backend(x.device());
  const MemoryFormat fmt = be.memory_format();
  if (filter_ready(dw, fmt)) {
    be.conv2d_backward_weight(x.contiguous(fmt), dy.contiguous(fmt), dw, args, accumulate);
    return;
  }
  // A gradient view the kernel cannot address row by row: compute packed, then merge.
  Tensor packed = Tensor::empty(dw.shape(), dw.dtype(), dw.device(), fmt);
  be.conv2d_backward_weight(x.contiguous(fmt), dy.contiguous(fmt), packed, args, false);
  if (accumulate)
    add_(dw, packed);
  else
    dw.copy_(packed);
}

std::pair<Tensor, Tensor> conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w,
                                          const Conv2dArgs& args) {
  check_activation("conv2d backward", dy, "output gradient");
  check_same("conv2d backward", dy, "output gradient", x, "input");
  check_same("conv2d backward", dy, "output gradient", w, "weight");
  check_output_grad(dy, x.shape(), w.shape(), args, "weight");
  Backend& be = backend(dy.device());
  const MemoryFormat fmt = be.memory_format();
  Tensor dx = Tensor::empty(x.shape(), dy.dtype(), dy.device(), fmt);
  Tensor dw = Tensor::empty(w.shape(), dy.dtype(), dy.device(), fmt);
  if (dx.numel() == 0 || dw.numel() == 0) {
    if (dx.numel() > 0) dx.zero_();  // nothing flows through a conv with no weights, and vice versa
    if (dw.numel() > 0) dw.zero_();
    return {dx, dw};
  }
  be.conv2d_backward(dy.contiguous(fmt), x.contiguous(fmt), filter_for(w, fmt), dx, dw, args);
  return {dx, dw};
}

}  // namespace mn::ops
