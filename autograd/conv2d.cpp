// Differentiable conv2d with optional bias. The weight and bias may be width slices of larger
// parameters: the kernels read them in place and the engine routes their gradients into the
// matching region of the full parameter's gradient.
#include "autograd/functions.h"
#include "tensor/conv2d.h"
#include "tensor/elementwise.h"
#include "tensor/reduce.h"

namespace mn {

Variable conv2d(const Variable& x, const Variable& w, const std::optional<Variable>& b,
                const Conv2dArgs& args) {
  Tensor in = x.data(), weight = w.data();
  Tensor out = ops::conv2d_forward(in, weight, args);  // (N, O, Ho, Wo)
  const int64_t O = weight.size(0);
  if (b) {
    MN_CHECK(b->dim() == 1 && b->size(0) == O, "conv2d: bias of shape ", shape_str(b->shape()),
             " for ", O, " output channels");
    ops::add_(out, b->data().reshape({1, O, 1, 1}));
  }
  std::vector<Variable> inputs{x, w};
  if (b) inputs.push_back(*b);
  const bool gx = x.requires_grad(), gw = w.requires_grad(), gb = b && b->requires_grad();
  // Save only what the backward uses: the input feeds the weight gradient, the weight the input's.
  Tensor saved_in = gw ? in : Tensor(), saved_w = gx ? weight : Tensor();
  const Shape x_shape = in.shape(), w_shape = weight.shape();
  return Variable::make(
      out, "conv2d", inputs,
      [saved_in, saved_w, x_shape, w_shape, args, gx, gw, gb](const Tensor& g) {
        std::vector<Tensor> grads(gb ? 3 : 2);
        if (gx && gw) {
          std::tie(grads[0], grads[1]) = ops::conv2d_backward(g, saved_in, saved_w, args);
        } else if (gx) {
          grads[0] = ops::conv2d_backward_data(g, saved_w, x_shape, args);
        } else if (gw) {
          grads[1] = Tensor::empty(w_shape, g.dtype(), g.device());
          ops::conv2d_backward_weight(saved_in, g, grads[1], args, false);
        }
        if (gb) grads[2] = ops::sum(g, {0, 2, 3});
        return grads;
      });
}

}  // namespace mn
