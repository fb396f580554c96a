// Test helpers over whole models.
#pragma once
#include "mutualnet/models/zoo.h"
#include "nn/batchnorm.h"

namespace mn::test {

// Converts a CPU model's parameters and BN statistics to float64, for runs compared in exact
// arithmetic: in float32, a ReLU input within rounding of zero flips its mask on one side of a
// comparison and not the other, moving the gradients below it by 0.1-1% (see
// tests/mutualnet/models_cuda_test.cpp).
inline void to_f64(models::Model& m) {
  for (auto& p : m.net->parameters()) p.set_data(p.data().to(DType::f64));
  for (auto& [name, mod] : m.net->named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(mod)) {
      bn->running_mean = bn->running_mean.to(DType::f64);
      bn->running_var = bn->running_var.to(DType::f64);
    }
}

}  // namespace mn::test
