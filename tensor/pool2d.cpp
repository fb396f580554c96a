// Pooling dispatch: argument and shape checks, output allocation.
#include "tensor/pool2d.h"

#include "tensor/op_checks.h"

namespace mn::ops {
namespace {

Shape pool_output_shape(const char* op, const Shape& x, const Pool2dArgs& a) {
  MN_CHECK(x.size() == 4, op, ": input must be 4-D (N, C, H, W), got ", shape_str(x));
  MN_CHECK(a.kernel_h >= 1 && a.kernel_w >= 1 && a.stride_h >= 1 && a.stride_w >= 1, op,
           ": kernel (", a.kernel_h, ", ", a.kernel_w, ") and stride (", a.stride_h, ", ",
           a.stride_w, ") must be >= 1");
  // As PyTorch: a window must always hold at least one real pixel.
  MN_CHECK(a.pad_h >= 0 && a.pad_w >= 0 && a.pad_h <= a.kernel_h / 2 && a.pad_w <= a.kernel_w / 2,
           op, ": padding (", a.pad_h, ", ", a.pad_w, ") must be between 0 and half the kernel (",
           a.kernel_h, ", ", a.kernel_w, ")");
  MN_CHECK(x[2] + 2 * a.pad_h >= a.kernel_h && x[3] + 2 * a.pad_w >= a.kernel_w, op, ": input ",
           shape_str(x), " padded by (", a.pad_h, ", ", a.pad_w, ") is smaller than the kernel (",
           a.kernel_h, ", ", a.kernel_w, ")");
  return {x[0], x[1], (x[2] + 2 * a.pad_h - a.kernel_h) / a.stride_h + 1,
          (x[3] + 2 * a.pad_w - a.kernel_w) / a.stride_w + 1};
}

// dy of a pooling over an input of x_shape: (N, C) as the input, any output plane.
void check_grad(const char* op, const Tensor& dy, const Shape& x_shape, const Shape& y_shape) {
  check_activation(op, dy, "output gradient");
  MN_CHECK(x_shape.size() == 4, op, ": input shape must be 4-D (N, C, H, W), got ",
           shape_str(x_shape));
  MN_CHECK(dy.shape() == y_shape, op, ": output gradient ", shape_str(dy.shape()),
           " does not match the output ", shape_str(y_shape), " of input ", shape_str(x_shape));
}

}  // namespace

MaxPoolOutput maxpool2d_forward(const Tensor& x, const Pool2dArgs& args) {
  check_activation("max_pool2d", x, "input");
  const Shape y_shape = pool_output_shape("max_pool2d", x.shape(), args);
  Backend& be = backend(x.device());
  const MemoryFormat fmt = be.memory_format();
  MaxPoolOutput out{Tensor::empty(y_shape, x.dtype(), x.device(), fmt),
                    Tensor::empty(y_shape, DType::i64, x.device(), fmt)};
  if (out.y.numel() > 0) be.maxpool2d_forward(x.contiguous(fmt), out.y, out.indices, args);
  return out;
}

Tensor maxpool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& x_shape) {
  MN_CHECK(x_shape.size() == 4, "max_pool2d backward: input shape must be 4-D, got ",
           shape_str(x_shape));
  MN_CHECK(indices.dtype() == DType::i64 && indices.device() == dy.device(),
           "max_pool2d backward: indices must be int64 on ", dy.device().str());
  MN_CHECK(indices.dim() == 4 && indices.size(0) == x_shape[0] && indices.size(1) == x_shape[1],
           "max_pool2d backward: indices ", shape_str(indices.shape()), " do not fit input ",
           shape_str(x_shape));
  check_grad("max_pool2d backward", dy, x_shape, indices.shape());
  Backend& be = backend(dy.device());
  const MemoryFormat fmt = be.memory_format();
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device(), fmt);
  if (dx.numel() > 0) be.maxpool2d_backward(dy.contiguous(fmt), indices.contiguous(fmt), dx);
  return dx;
}

Tensor avgpool2d_forward(const Tensor& x, const Pool2dArgs& args) {
  check_activation("avg_pool2d", x, "input");
  Backend& be = backend(x.device());
  const MemoryFormat fmt = be.memory_format();
  Tensor y = Tensor::empty(pool_output_shape("avg_pool2d", x.shape(), args), x.dtype(), x.device(), fmt);
  if (y.numel() > 0) be.avgpool2d_forward(x.contiguous(fmt), y, args);
  return y;
}

Tensor avgpool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dArgs& args) {
  check_grad("avg_pool2d backward", dy, x_shape,
             pool_output_shape("avg_pool2d backward", x_shape, args));
  Backend& be = backend(dy.device());
  const MemoryFormat fmt = be.memory_format();
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device(), fmt);
  if (dx.numel() > 0) be.avgpool2d_backward(dy.contiguous(fmt), dx, args);
  return dx;
}

Tensor adaptive_avgpool2d_forward(const Tensor& x, int64_t out_h, int64_t out_w) {
  check_activation("adaptive_avg_pool2d", x, "input");
  check_4d("adaptive_avg_pool2d", x, "input");
  MN_CHECK(out_h >= 1 && out_w >= 1, "adaptive_avg_pool2d: output size (", out_h, ", ", out_w,
           ") must be positive");
  MN_CHECK(x.size(2) >= 1 && x.size(3) >= 1, "adaptive_avg_pool2d: input ", shape_str(x.shape()),
           " has an empty plane");
  Backend& be = backend(x.device());
  const MemoryFormat fmt = be.memory_format();
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device(), fmt);
  if (y.numel() > 0) be.adaptive_avgpool2d_forward(x.contiguous(fmt), y);
  return y;
}

Tensor adaptive_avgpool2d_backward(const Tensor& dy, const Shape& x_shape) {
  const char* op = "adaptive_avg_pool2d backward";
  MN_CHECK(x_shape.size() == 4, op, ": input shape must be 4-D (N, C, H, W), got ",
           shape_str(x_shape));
  MN_CHECK(dy.dim() == 4 && dy.size(2) >= 1 && dy.size(3) >= 1, op,
           ": output gradient must be 4-D with a non-empty plane, got ", shape_str(dy.shape()));
  check_grad(op, dy, x_shape, {x_shape[0], x_shape[1], dy.size(2), dy.size(3)});
  Backend& be = backend(dy.device());
  const MemoryFormat fmt = be.memory_format();
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device(), fmt);
  if (dx.numel() > 0) be.adaptive_avgpool2d_backward(dy.contiguous(fmt), dx);
  return dx;
}

}  // namespace mn::ops
