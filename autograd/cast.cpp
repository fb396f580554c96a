// Differentiable dtype conversion: the hinge of mixed precision. A float32 master weight (or a
// width slice of one) is cast to the activations' dtype for the op that reads it, and the
// gradient of that compute copy is cast back, so it lands in the float32 master gradient (through
// the slice's view, in the matching region). Same dtype: the input itself, nothing recorded.
#include "autograd/functions.h"

namespace mn {

Variable cast(const Variable& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  MN_CHECK(is_floating(x.dtype()) && is_floating(dtype), "cast: ", dtype_name(x.dtype()), " -> ",
           dtype_name(dtype), " is not a conversion between floating dtypes");
  const DType from = x.dtype();
  return Variable::make(x.data().to(dtype), "cast", {x},
                        [from](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
}

}  // namespace mn
