// Reductions over one or more dims (negative dims allowed). keepdim keeps reduced dims as size 1.
#pragma once
#include "tensor/backend.h"

namespace mn::ops {

Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int>& dims, bool keepdim = false);
inline Tensor sum(const Tensor& x, const std::vector<int>& dims, bool keepdim = false) {
  return reduce(ReduceOp::sum, x, dims, keepdim);
}
inline Tensor mean(const Tensor& x, const std::vector<int>& dims, bool keepdim = false) {
  return reduce(ReduceOp::mean, x, dims, keepdim);
}
inline Tensor max(const Tensor& x, const std::vector<int>& dims, bool keepdim = false) {
  return reduce(ReduceOp::max, x, dims, keepdim);
}
// argmax over a single dim; i64 result.
inline Tensor argmax(const Tensor& x, int dim, bool keepdim = false) {
  return reduce(ReduceOp::argmax, x, {dim}, keepdim);
}
// Population variance unless unbiased.
inline Tensor var(const Tensor& x, const std::vector<int>& dims, bool unbiased = false,
                  bool keepdim = false) {
  return reduce(unbiased ? ReduceOp::var_unbiased : ReduceOp::var, x, dims, keepdim);
}
Tensor sum_all(const Tensor& x);  // one-element tensor
// Sums a broadcast result back down to `shape` (the gradient of an expand).
Tensor sum_to(const Tensor& x, const Shape& shape);

}  // namespace mn::ops
