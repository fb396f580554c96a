// Bilinear resize dispatch.
#include "tensor/resize.h"

#include "tensor/op_checks.h"

namespace mn::ops {

Tensor resize_bilinear_forward(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners) {
  check_activation("resize_bilinear", x, "input");
  check_4d("resize_bilinear", x, "input");
  MN_CHECK(out_h >= 1 && out_w >= 1, "resize_bilinear: output size (", out_h, ", ", out_w,
           ") must be positive");
  MN_CHECK(x.size(2) >= 1 && x.size(3) >= 1, "resize_bilinear: input ", shape_str(x.shape()),
           " has an empty plane");
  Backend& be = backend(x.device());
  const MemoryFormat fmt = be.memory_format();
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device(), fmt);
  if (y.numel() > 0) be.resize_bilinear_forward(x.contiguous(fmt), y, align_corners);
  return y;
}

Tensor resize_bilinear_backward(const Tensor& dy, const Shape& x_shape, bool align_corners) {
  check_activation("resize_bilinear backward", dy, "output gradient");
  MN_CHECK(x_shape.size() == 4 && x_shape[2] >= 1 && x_shape[3] >= 1,
           "resize_bilinear backward: input shape must be 4-D with a non-empty plane, got ",
           shape_str(x_shape));
  MN_CHECK(dy.dim() == 4 && dy.size(0) == x_shape[0] && dy.size(1) == x_shape[1] &&
               dy.size(2) >= 1 && dy.size(3) >= 1,
           "resize_bilinear backward: output gradient ", shape_str(dy.shape()),
           " does not fit input ", shape_str(x_shape));
  Backend& be = backend(dy.device());
  const MemoryFormat fmt = be.memory_format();
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device(), fmt);
  if (dx.numel() > 0) be.resize_bilinear_backward(dy.contiguous(fmt), dx, align_corners);
  return dx;
}

}  // namespace mn::ops
