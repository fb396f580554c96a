// Reductions: move the reduced dims last, make the data contiguous, reduce each row.
#include "tensor/reduce.h"

#include <algorithm>

namespace mn::ops {

Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  MN_CHECK(x.defined(), "reduce: undefined tensor");
  std::vector<bool> reduced(x.dim(), dims.empty());
  for (int d : dims) {
    int w = x.wrap_dim(d);
    MN_CHECK(!reduced[w], "reduce: dim ", d, " listed twice");
    reduced[w] = true;
  }
  MN_CHECK(op != ReduceOp::argmax || dims.size() == 1, "argmax: expects exactly one dim");
  std::vector<int> order;
  Shape kept_shape, keep_shape;
  int64_t m = 1, k = 1;
  for (int d = 0; d < x.dim(); ++d) {
    if (reduced[d]) continue;
    order.push_back(d);
    kept_shape.push_back(x.size(d));
    m *= x.size(d);
  }
  for (int d = 0; d < x.dim(); ++d) {
    keep_shape.push_back(reduced[d] ? 1 : x.size(d));
    if (!reduced[d]) continue;
    order.push_back(d);
    k *= x.size(d);
  }
  MN_CHECK(k > 0 || op == ReduceOp::sum, "reduce: cannot take ", op == ReduceOp::argmax ? "argmax" : "max/mean/var",
           " over an empty dim of shape ", shape_str(x.shape()));
  Tensor rows = x.permute(order).contiguous().view({m, k});
  DType out_type = op == ReduceOp::argmax ? DType::i64 : x.dtype();
  Tensor out = Tensor::empty({m}, out_type, x.device());
  backend(x.device()).reduce_rows(op, out, rows);
  return out.view(keepdim ? keep_shape : kept_shape);
}

Tensor sum_all(const Tensor& x) { return reduce(ReduceOp::sum, x, {}, false); }

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  int lead = x.dim() - static_cast<int>(shape.size());
  MN_CHECK(lead >= 0, "sum_to: cannot reduce ", shape_str(x.shape()), " to ", shape_str(shape));
  std::vector<int> dims;
  for (int d = 0; d < x.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else if (shape[d - lead] == 1 && x.size(d) != 1) {
      dims.push_back(d);
    } else {
      MN_CHECK(shape[d - lead] == x.size(d), "sum_to: cannot reduce ", shape_str(x.shape()), " to ",
               shape_str(shape));
    }
  }
  if (dims.empty()) return x.reshape(shape);
  return reduce(ReduceOp::sum, x, dims, true).reshape(shape);
}

}  // namespace mn::ops
