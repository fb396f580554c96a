// Shared by the gradchecks of the neural-network ops: random float64 inputs and a gradcheck that
// reports the first mismatch.
#pragma once
#include <doctest/doctest.h>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "tensor/ops.h"

namespace mn::test {

inline Tensor uniform(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  Generator g(seed);
  Tensor t = Tensor::empty(s, DType::f64);
  ops::uniform_(t, lo, hi, g);
  return t;
}

// The same values in a transposed (non-contiguous) layout.
inline Tensor strided(const Tensor& t) {
  return t.transpose(t.dim() - 2, t.dim() - 1).contiguous().transpose(t.dim() - 2, t.dim() - 1);
}

using Vars = std::vector<Variable>;

inline void check_grad(const std::function<Variable(const Vars&)>& f,
                       const std::vector<Tensor>& inputs) {
  GradcheckResult r = gradcheck(f, inputs);
  INFO(r.message);
  CHECK(r.ok);
}

}  // namespace mn::test
