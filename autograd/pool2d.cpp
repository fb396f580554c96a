// Differentiable pooling: max pooling routes each gradient to the recorded argmax, average and
// adaptive average pooling spread it evenly over the window.
#include "autograd/functions.h"
#include "tensor/pool2d.h"

namespace mn {

using Grads = std::vector<Tensor>;

Variable max_pool2d(const Variable& x, const Pool2dArgs& args) {
  ops::MaxPoolOutput r = ops::maxpool2d_forward(x.data(), args);
  return Variable::make(r.y, "max_pool2d", {x},
                        [indices = r.indices, x_shape = x.shape()](const Tensor& g) {
                          return Grads{ops::maxpool2d_backward(g, indices, x_shape)};
                        });
}

Variable avg_pool2d(const Variable& x, const Pool2dArgs& args) {
  return Variable::make(ops::avgpool2d_forward(x.data(), args), "avg_pool2d", {x},
                        [x_shape = x.shape(), args](const Tensor& g) {
                          return Grads{ops::avgpool2d_backward(g, x_shape, args)};
                        });
}

Variable adaptive_avg_pool2d(const Variable& x, int64_t out_h, int64_t out_w) {
  return Variable::make(ops::adaptive_avgpool2d_forward(x.data(), out_h, out_w),
                        "adaptive_avg_pool2d", {x}, [x_shape = x.shape()](const Tensor& g) {
                          return Grads{ops::adaptive_avgpool2d_backward(g, x_shape)};
                        });
}

}  // namespace mn
