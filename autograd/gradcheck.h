// Finite-difference gradient check in float64: compares backward() of L = sum(f(x) * R), with a
// fixed random R, against central differences of L for every element of every input.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.h"

namespace mn {

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;
  std::string message;  // the first mismatch: input, element, analytic vs numeric
};

// Inputs must be f64 CPU tensors (they may be strided views); each becomes a leaf requiring grad.
GradcheckResult gradcheck(const std::function<Variable(const std::vector<Variable>&)>& f,
                          const std::vector<Tensor>& inputs, double eps = 1e-6,
                          double atol = 1e-6, double rtol = 1e-4, uint64_t seed = 7);

}  // namespace mn
