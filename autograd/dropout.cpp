// Inverted dropout composed from existing ops: a mask drawn with ops::uniform_ from the caller's
// generator keeps each value with probability 1 - p and scales kept values by 1 / (1 - p), so the
// expected output equals the input and eval needs no rescaling.
#include "autograd/functions.h"
#include "tensor/elementwise.h"

namespace mn {

Variable dropout(const Variable& x, double p, bool training, Generator& gen) {
  MN_CHECK(p >= 0 && p <= 1, "dropout: probability must be in [0, 1], got ", p);
  MN_CHECK(is_floating(x.dtype()), "dropout: input must be floating, got ", dtype_name(x.dtype()));
  if (!training || p == 0) return x;
  Tensor u = Tensor::empty(x.shape(), x.dtype(), x.device());
  ops::uniform_(u, 0, 1, gen);
  Tensor mask = p == 1 ? Tensor::zeros(x.shape(), x.dtype(), x.device())
                       : ops::scale(ops::ge(u, Tensor::scalar(p, x.dtype(), x.device())), 1 / (1 - p));
  return mul(x, Variable(mask));
}

}  // namespace mn
