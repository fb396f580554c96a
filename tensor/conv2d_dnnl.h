// The forward and input-gradient passes of dense 3x3 stride-1 float32 convolutions through oneDNN
// (Debian's libdnnl, the library PyTorch's CPU convolutions use), when mn is built with it
// (MN_DNNL, on by default when found; see CMakeLists.txt). Its JIT kernels work on channel-blocked
// layouts and run these layers 1.2-1.5x faster than im2col + OpenBLAS even with the reorders in
// and out (BENCHMARKS.md), at the same precision; below 16 channels the reorders cost more than
// they save, and the strided, 1x1, grouped and 1-channel convs are faster on mn's own path. The
// weight gradient is not offered: oneDNN's is 10x less precise (tensor/conv2d_cpu.cpp).
#pragma once
#include "tensor/backend.h"

namespace mn::dnnl_conv {

#ifdef MN_HAVE_DNNL
// Whether a conv of input x_shape (N, C, H, W) and weight w_shape takes this path.
bool applies(const Shape& x_shape, const Shape& w_shape, DType dtype, const Conv2dArgs& a);
void forward(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dArgs& a);
void backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv2dArgs& a);
#else
inline bool applies(const Shape&, const Shape&, DType, const Conv2dArgs&) { return false; }
inline void forward(const Tensor&, const Tensor&, const Tensor&, const Conv2dArgs&) {}
inline void backward_data(const Tensor&, const Tensor&, const Tensor&, const Conv2dArgs&) {}
#endif

}  // namespace mn::dnnl_conv
