// Helpers shared by the nn tests: seeded random tensors, a fixed-rule Slimming, comparisons.
#pragma once
#include <doctest/doctest.h>

#include <cmath>

#include "nn/slimming.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace mn::test {

inline Tensor random_tensor(const Shape& s, uint64_t seed, DType dtype = DType::f32) {
  Generator g(seed);
  Tensor t = Tensor::empty(s, dtype);
  ops::uniform_(t, -1, 1, g);
  return t;
}

// Rounds channels * width to the nearest integer: enough to exercise slicing without depending
// on mutualnet's make_divisible (nn sits below mutualnet).
class FixedWidth : public nn::Slimming {
 public:
  double width = 1.0;
  int64_t active(int64_t channels, double ratio = 1) const override {
    return static_cast<int64_t>(std::lround(double(channels) * width / ratio) * ratio);
  }
  int64_t largest(int64_t channels, double ratio = 1) const override { return channels; }
};

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> x = a.to(DType::f64).contiguous().to_vector<double>();
  std::vector<double> y = b.to(DType::f64).contiguous().to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

}  // namespace mn::test
