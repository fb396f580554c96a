// Differentiable zero / reflect padding: the backward crops (zero) or folds the reflected border
// back onto the pixels it copied (reflect). The training crop pads on the CPU in the loader
// (data/transforms.h); this op has no caller in training yet, only its tests.
#include "autograd/functions.h"
#include "tensor/pad2d.h"

namespace mn {

Variable pad2d(const Variable& x, const Pad2d& pad, PadMode mode) {
  return Variable::make(ops::pad2d_forward(x.data(), pad, mode), "pad2d", {x},
                        [x_shape = x.shape(), pad, mode](const Tensor& g) {
                          return std::vector<Tensor>{ops::pad2d_backward(g, x_shape, pad, mode)};
                        });
}

}  // namespace mn
