// Dense 3x3 float32 convolutions through oneDNN (Debian's libdnnl, the library PyTorch's CPU
// convolutions use), when mn is built with it (MN_DNNL, on by default when found; see
// CMakeLists.txt): all three passes when both channel counts are 16 or more, at stride 1 or 2, and
// the forward and weight-gradient passes of the image-facing conv of a 1-channel network. Its JIT
// kernels work on channel-blocked layouts and run these layers 1.2-5x faster than im2col +
// OpenBLAS with the reorders in and out (BENCHMARKS.md). Below 16 channels the reorders cost more
// than they save, and 1x1 and grouped convs are as fast or faster on mn's own path. The weight
// gradient is summed over short runs of images and added up in a tree, because oneDNN's own
// batch-long float32 sums are 10x less precise than mn's (conv2d_dnnl.cpp). With precision bf16
// every dense conv takes this path (no other has bfloat16 kernels). With channels-last activations,
// which oneDNN reads and writes in place (no reorders to pay for), every conv does, grouped and
// depthwise ones included.
#pragma once
#include "tensor/backend.h"

namespace mn::dnnl_conv {

enum class Pass { forward, backward_data, backward_weight };

#ifdef MN_HAVE_DNNL
constexpr bool built = true;
bool bf16_supported();  // the CPU runs oneDNN's bfloat16 convolutions (AVX512-BF16 or AMX)
// bfloat16 operands from now on (float32 accumulation and results); every dense conv takes oneDNN.
void set_bf16(bool on);
// Activations NHWC and weights OHWI (KRSC) from now on; every float32 conv takes oneDNN.
void set_nhwc(bool on);
// Whether `pass` of a conv of input x_shape (N, C, H, W) and weight w_shape takes this path.
bool applies(Pass pass, const Shape& x_shape, const Shape& w_shape, DType dtype,
             const Conv2dArgs& a);
void forward(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dArgs& a);
void backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv2dArgs& a);
// dw (rows dw.stride(0) apart) <- the weight gradient, or += with accumulate.
void backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw, const Conv2dArgs& a,
                     bool accumulate);
// Both gradients (dw overwritten), dy reordered into oneDNN's layout once for the two passes.
void backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& dx,
              const Tensor& dw, const Conv2dArgs& a);
#else
constexpr bool built = false;
inline bool bf16_supported() { return false; }
inline void set_bf16(bool) {}
inline void set_nhwc(bool) {}
inline bool applies(Pass, const Shape&, const Shape&, DType, const Conv2dArgs&) { return false; }
inline void forward(const Tensor&, const Tensor&, const Tensor&, const Conv2dArgs&) {}
inline void backward_data(const Tensor&, const Tensor&, const Tensor&, const Conv2dArgs&) {}
inline void backward_weight(const Tensor&, const Tensor&, const Tensor&, const Conv2dArgs&, bool) {}
inline void backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                     const Conv2dArgs&) {}
#endif

}  // namespace mn::dnnl_conv
