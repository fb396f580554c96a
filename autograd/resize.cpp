// Differentiable bilinear resize, align_corners as in PyTorch. Training batches are downscaled by
// the loader on the CPU (data/resample.h), not by this op: today it serves models and tests, and
// the tensor-level forward makes `mn bench train`'s synthetic downscales.
#include "autograd/functions.h"
#include "tensor/resize.h"

namespace mn {

Variable resize_bilinear(const Variable& x, int64_t out_h, int64_t out_w, bool align_corners) {
  return Variable::make(ops::resize_bilinear_forward(x.data(), out_h, out_w, align_corners),
                        "resize_bilinear", {x},
                        [x_shape = x.shape(), align_corners](const Tensor& g) {
                          return std::vector<Tensor>{
                              ops::resize_bilinear_backward(g, x_shape, align_corners)};
                        });
}

}  // namespace mn
