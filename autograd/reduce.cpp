// Differentiable reductions: the gradient is broadcast back over the reduced dims.
#include <algorithm>

#include "autograd/functions.h"
#include "tensor/elementwise.h"
#include "tensor/reduce.h"

namespace mn {

namespace {

using Grads = std::vector<Tensor>;

// Shape of x with the reduced dims kept as 1 (all dims when `dims` is empty).
Shape keepdim_shape(const Tensor& x, const std::vector<int>& dims) {
  Shape s = x.shape();
  if (dims.empty()) std::fill(s.begin(), s.end(), 1);
  for (int d : dims) s[x.wrap_dim(d)] = 1;
  return s;
}

// g (reduced, with or without keepdim) broadcast back to x's shape, as a contiguous tensor.
Tensor broadcast_back(const Tensor& g, const Shape& keep, const Shape& full) {
  return g.reshape(keep).expand(full).contiguous();
}

int64_t reduced_count(const Tensor& x, const std::vector<int>& dims) {
  return dims.empty() ? x.numel() : x.numel() / std::max<int64_t>(shape_numel(keepdim_shape(x, dims)), 1);
}

}  // namespace

Variable sum(const Variable& x, const std::vector<int>& dims, bool keepdim) {
  Shape keep = keepdim_shape(x.data(), dims), full = x.shape();
  return Variable::make(ops::sum(x.data(), dims, keepdim), "sum", {x}, [keep, full](const Tensor& g) {
    return Grads{broadcast_back(g, keep, full)};
  });
}

Variable sum(const Variable& x) { return sum(x, {}, false); }

Variable mean(const Variable& x, const std::vector<int>& dims, bool keepdim) {
  Shape keep = keepdim_shape(x.data(), dims), full = x.shape();
  double inv = 1.0 / static_cast<double>(reduced_count(x.data(), dims));
  return Variable::make(ops::mean(x.data(), dims, keepdim), "mean", {x},
                        [keep, full, inv](const Tensor& g) {
                          return Grads{ops::scale(broadcast_back(g, keep, full), inv)};
                        });
}

Variable mean(const Variable& x) { return mean(x, {}, false); }

Variable max(const Variable& x, int dim, bool keepdim) {
  Tensor in = x.data();
  int d = in.wrap_dim(dim);
  Tensor arg = ops::argmax(in, d, true);  // (.., 1, ..) i64
  Tensor values = ops::max(in, {d}, keepdim);
  Shape keep = keepdim_shape(in, {d});
  return Variable::make(values, "max", {x}, [in, d, arg, keep](const Tensor& g) {
    // One-hot of the argmax along d (exactly one position, even with ties).
    Shape pos_shape(in.dim(), 1);
    pos_shape[d] = in.size(d);
    Tensor pos = Tensor::arange(in.size(d), in.dtype()).to(in.device()).view(pos_shape);
    Tensor onehot = ops::eq(pos.expand(in.shape()), arg.to(in.dtype()).expand(in.shape()));
    return Grads{ops::mul(onehot, g.reshape(keep).expand(in.shape()))};
  });
}

Variable var(const Variable& x, const std::vector<int>& dims, bool unbiased, bool keepdim) {
  Tensor in = x.data();
  Shape keep = keepdim_shape(in, dims);
  int64_t n = reduced_count(in, dims);
  MN_CHECK(!unbiased || n > 1, "var: unbiased variance over ", n, " element(s)");
  return Variable::make(ops::var(in, dims, unbiased, keepdim), "var", {x},
                        [in, dims, keep, n, unbiased](const Tensor& g) {
                          // d var / dx = 2 (x - mean) / (n - correction)
                          Tensor centered = ops::sub(in, ops::mean(in, dims, true));
                          double k = 2.0 / static_cast<double>(unbiased ? n - 1 : n);
                          return Grads{ops::mul(ops::scale(centered, k), g.reshape(keep).expand(in.shape()))};
                        });
}

}  // namespace mn
