// The nn tests' fixed-rule Slimming, next to the helpers all tests share.
#pragma once
#include <cmath>

#include "nn/slimming.h"
#include "tests/common/test_util.h"

namespace mn::test {

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

}  // namespace mn::test
