// Zero or reflect padding of the last two dims of NCHW (reflect excludes the edge, as PyTorch).
#pragma once
#include "tensor/backend.h"

namespace mn::ops {

Tensor pad2d_forward(const Tensor& x, const Pad2d& pad, PadMode mode);
Tensor pad2d_backward(const Tensor& dy, const Shape& x_shape, const Pad2d& pad, PadMode mode);

}  // namespace mn::ops
