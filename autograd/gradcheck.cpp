// Finite-difference gradient checking (float64).
#include "autograd/gradcheck.h"

#include <cmath>

#include "autograd/functions.h"
#include "tensor/ops.h"

namespace mn {

GradcheckResult gradcheck(const std::function<Variable(const std::vector<Variable>&)>& f,
                          const std::vector<Tensor>& inputs, double eps, double atol, double rtol,
                          uint64_t seed) {
  for (const Tensor& t : inputs)
    MN_CHECK(t.dtype() == DType::f64 && t.device().is_cpu(),
             "gradcheck: inputs must be float64 CPU tensors, got ", dtype_name(t.dtype()), " on ",
             t.device().str());
  std::vector<Variable> vars;
  for (const Tensor& t : inputs) vars.emplace_back(t, true);

  // L = sum(f(x) * R): one backward gives the vector-Jacobian product along a random R.
  Tensor projection;
  auto loss = [&](const std::vector<Variable>& v) {
    Variable y = f(v);
    if (!projection.defined()) {
      Generator gen(seed);
      projection = Tensor::empty(y.shape(), DType::f64);
      ops::uniform_(projection, -1, 1, gen);
    }
    return sum(mul(y, Variable(projection)));
  };
  loss(vars).backward();

  GradcheckResult result;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    // Walk the elements of a possibly strided input through a contiguous index.
    Tensor analytic = vars[i].grad().defined() ? vars[i].grad().contiguous()
                                               : Tensor::zeros(x.shape(), DType::f64);
    const double* an = analytic.data<double>();
    const Shape strides = x.strides();
    for (int64_t flat = 0; flat < x.numel(); ++flat) {
      int64_t rem = flat, off = 0;
      for (int d = x.dim() - 1; d >= 0; --d) {
        off += (rem % x.size(d)) * strides[d];
        rem /= x.size(d);
      }
      double* p = x.data<double>() + off;
      const double saved = *p;
      NoGradGuard no_grad;
      *p = saved + eps;
      double up = loss(vars).data().item();
      *p = saved - eps;
      double down = loss(vars).data().item();
      *p = saved;
      double numeric = (up - down) / (2 * eps);
      double err = std::abs(numeric - an[flat]);
      result.max_abs_error = std::max(result.max_abs_error, err);
      if (err > atol + rtol * std::abs(numeric) && result.ok) {
        result.ok = false;
        result.message = cat("input ", i, " element ", flat, ": analytic ", an[flat],
                             " vs numeric ", numeric);
      }
    }
  }
  return result;
}

}  // namespace mn
