// Bilinear resize of NCHW with PyTorch's coordinate definitions for align_corners true / false.
#pragma once
#include "tensor/backend.h"

namespace mn::ops {

Tensor resize_bilinear_forward(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners);
Tensor resize_bilinear_backward(const Tensor& dy, const Shape& x_shape, bool align_corners);

}  // namespace mn::ops
