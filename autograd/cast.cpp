// Differentiable dtype conversion: the hinge of mixed precision. A float32 master weight (or a
// width slice of one) is cast to the activations' dtype for the op that reads it, and the
// gradient of that compute copy is cast back, so it lands in the float32 master gradient (through
// the slice's view, in the matching region). Same dtype: the input itself, nothing recorded. The
// copy may take another memory format on the way (channels-last images and KRSC filters for
// NHWC convolutions), so a layout change costs no pass of its own.
#include "autograd/functions.h"

namespace mn {

Variable cast(const Variable& x, DType dtype, std::optional<MemoryFormat> format) {
  if (x.dtype() == dtype && (!format || x.data().is_contiguous(*format))) return x;
  MN_CHECK(is_floating(x.dtype()) && is_floating(dtype), "cast: ", dtype_name(x.dtype()), " -> ",
           dtype_name(dtype), " is not a conversion between floating dtypes");
  const DType from = x.dtype();
  Tensor out = Tensor::empty(x.shape(), dtype, x.device(), format.value_or(x.data().memory_format()));
  out.copy_(x.data());
  return Variable::make(out, "cast", {x},
                        [from](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
}

}  // namespace mn
