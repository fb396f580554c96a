// pad2d dispatch.
#include "tensor/pad2d.h"

#include "tensor/op_checks.h"

namespace mn::ops {
namespace {

Shape padded_shape(const char* op, const Shape& x, const Pad2d& p, PadMode mode) {
  MN_CHECK(x.size() == 4, op, ": input must be 4-D (N, C, H, W), got ", shape_str(x));
  MN_CHECK(p.left >= 0 && p.right >= 0 && p.top >= 0 && p.bottom >= 0, op,
           ": padding (left ", p.left, ", right ", p.right, ", top ", p.top, ", bottom ", p.bottom,
           ") must be >= 0");
  // Reflection mirrors about the edge pixel, so it can reach at most size - 1 pixels in.
  MN_CHECK(mode != PadMode::reflect ||
               (p.left < x[3] && p.right < x[3] && p.top < x[2] && p.bottom < x[2]),
           op, ": reflect padding (left ", p.left, ", right ", p.right, ", top ", p.top,
           ", bottom ", p.bottom, ") must be smaller than the input plane (", x[2], ", ", x[3],
           ")");
  return {x[0], x[1], x[2] + p.top + p.bottom, x[3] + p.left + p.right};
}

}  // namespace

// Any dtype: images are padded as uint8 before they become float.
Tensor pad2d_forward(const Tensor& x, const Pad2d& pad, PadMode mode) {
  MN_CHECK(x.defined(), "pad2d: input is undefined");
  Backend& be = backend(x.device());
  const MemoryFormat fmt = be.memory_format();
  Tensor y = Tensor::empty(padded_shape("pad2d", x.shape(), pad, mode), x.dtype(), x.device(), fmt);
  if (y.numel() > 0) be.pad2d_forward(x.contiguous(fmt), y, pad, mode);
  return y;
}

Tensor pad2d_backward(const Tensor& dy, const Shape& x_shape, const Pad2d& pad, PadMode mode) {
  check_activation("pad2d backward", dy, "output gradient");
  const Shape y_shape = padded_shape("pad2d backward", x_shape, pad, mode);
  MN_CHECK(dy.shape() == y_shape, "pad2d backward: output gradient ", shape_str(dy.shape()),
           " does not match the output ", shape_str(y_shape), " of input ", shape_str(x_shape));
  Backend& be = backend(dy.device());
  const MemoryFormat fmt = be.memory_format();
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device(), fmt);
  if (dx.numel() > 0) be.pad2d_backward(dy.contiguous(fmt), dx, pad, mode);
  return dx;
}

}  // namespace mn::ops
