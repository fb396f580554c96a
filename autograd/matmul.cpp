// Differentiable matrix product and linear layer. Weights may be width slices of larger
// parameters: GEMM reads them in place and their gradients land in the matching regions.
#include "autograd/functions.h"
#include "tensor/elementwise.h"
#include "tensor/matmul.h"
#include "tensor/reduce.h"

namespace mn {

using Grads = std::vector<Tensor>;

Variable matmul(const Variable& a, const Variable& b) {
  Tensor x = a.data(), y = b.data();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return Variable::make(ops::matmul(x, y), "matmul", {a, b}, [x, y, ga, gb](const Tensor& g) {
    // (m, n) gradient: dA = g @ B^T, dB = A^T @ g
    return Grads{ga ? ops::matmul(g, y.transpose(0, 1)) : Tensor(),
                 gb ? ops::matmul(x.transpose(0, 1), g) : Tensor()};
  });
}

Variable linear(const Variable& x, const Variable& w, const std::optional<Variable>& b) {
  MN_CHECK(x.dim() == 2 && w.dim() == 2, "linear: expects input (N, in) and weight (out, in), got ",
           shape_str(x.shape()), " and ", shape_str(w.shape()));
  MN_CHECK(x.size(1) == w.size(1), "linear: input has ", x.size(1), " features, weight expects ",
           w.size(1));
  MN_CHECK(!b || (b->dim() == 1 && b->size(0) == w.size(0)), "linear: bias of shape ",
           shape_str(b ? b->shape() : Shape{}), " for ", w.size(0), " outputs");
  Tensor in = x.data(), weight = w.data();
  Tensor out = Tensor::empty({in.size(0), weight.size(0)}, in.dtype(), in.device());
  ops::matmul_into(out, in, weight.transpose(0, 1));  // (N, in) @ (in, out)
  if (b) ops::add_(out, b->data());
  std::vector<Variable> inputs{x, w};
  if (b) inputs.push_back(*b);
  bool gx = x.requires_grad(), gw = w.requires_grad(), has_bias = b.has_value();
  return Variable::make(out, "linear", inputs, [in, weight, gx, gw, has_bias](const Tensor& g) {
    Grads grads{gx ? ops::matmul(g, weight) : Tensor(),                  // (N, out) @ (out, in)
                gw ? ops::matmul(g.transpose(0, 1), in) : Tensor()};     // (out, N) @ (N, in)
    if (has_bias) grads.push_back(ops::sum(g, {0}));
    return grads;
  });
}

}  // namespace mn
