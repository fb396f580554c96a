// ReLU, ReLU6, Dropout: thin modules over the differentiable ops.
#include "nn/activation.h"

#include "autograd/functions.h"

namespace mn::nn {

Variable ReLU::forward(const Variable& x) { return relu(x); }
Variable ReLU6::forward(const Variable& x) { return relu6(x); }

Dropout::Dropout(double p, uint64_t seed) : p_(p), gen_(seed) {
  MN_CHECK(p >= 0 && p < 1, "Dropout: p = ", p, " is outside [0, 1)");
}

Variable Dropout::forward(const Variable& x) {
  if (p_ == 0) return x;
  return dropout(x, p_, is_training(), gen_);
}

}  // namespace mn::nn
