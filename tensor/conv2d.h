// 2-D convolution (cross-correlation, as PyTorch) with stride, padding, dilation and groups.
#pragma once
#include "tensor/backend.h"

namespace mn::ops {

// x (N, C, H, W), w (O, C/groups, kh, kw) -> (N, O, Ho, Wo). w may be a width slice of a larger
// weight (any stride(0), contiguous inner dims); it is read in place.
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Conv2dArgs& args);
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape,
                            const Conv2dArgs& args);
// Writes (or, with accumulate, adds) the weight gradient into dw, which may be a view of a larger
// gradient buffer.
void conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw,
                            const Conv2dArgs& args, bool accumulate);
// Both gradients of one conv in one call, so that a backend can share work between the passes
// (the CPU's oneDNN path puts dy into its blocked layout once): returns {dx, dw}.
std::pair<Tensor, Tensor> conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w,
                                          const Conv2dArgs& args);
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dArgs& args);

}  // namespace mn::ops
