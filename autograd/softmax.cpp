// Differentiable softmax and log-softmax over the last dim; both backwards need only the output.
#include "autograd/functions.h"
#include "tensor/softmax.h"

namespace mn {

namespace {
Variable softmax_op(const Variable& x, bool log) {
  Tensor y = ops::softmax_forward(x.data(), log);
  return Variable::make(y, log ? "log_softmax" : "softmax", {x}, [y, log](const Tensor& g) {
    return std::vector<Tensor>{ops::softmax_backward(y, g, log)};
  });
}
}  // namespace

Variable softmax(const Variable& x) { return softmax_op(x, false); }
Variable log_softmax(const Variable& x) { return softmax_op(x, true); }

}  // namespace mn
