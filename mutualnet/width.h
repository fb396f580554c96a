// The width policy of a MutualNet: the public code's channel rounding (make_divisible) and the
// active width multiplier that every slimmable layer of one network reads (Width is the
// nn::Slimming those layers are built with). Set it, run the network, and the network is the
// sub-network of that width.
#pragma once
#include <cstdint>

#include "nn/slimming.h"

namespace mn {

// Rounds v to a multiple of `divisor` (half up), at least min_value, and never more than 10%
// below v: max(min_value, int(v + d/2) // d * d), plus d if that is < 0.9 v. Exactly the rule of
// the public slimmable / MutualNet code.
int64_t make_divisible(double v, int64_t divisor, int64_t min_value = 1);

class Width : public nn::Slimming {
 public:
  // Parameters are allocated for max_width; the active width starts there. `base` rescales every
  // width: an exported sub-network (mn export) is the original network with base = the exported
  // width, so its width 1.0 has exactly the sub-network's channel counts.
  explicit Width(int64_t divisor = 8, double max_width = 1.0, double base = 1.0);

  void set(double width);  // in (0, max_width]
  double get() const { return width_; }
  double max() const { return max_width_; }
  int64_t divisor() const { return divisor_; }

  // int(make_divisible(channels * width * base / ratio) * ratio), as the public code sizes its layers.
  int64_t channels_at(int64_t channels, double ratio, double width) const;
  int64_t active(int64_t channels, double ratio = 1) const override {
    return channels_at(channels, ratio, width_);
  }
  int64_t largest(int64_t channels, double ratio = 1) const override {
    return channels_at(channels, ratio, max_width_);
  }

 private:
  int64_t divisor_;
  double max_width_;
  double base_;
  double width_;
};

// Sets a width for one scope and puts the previous one back.
class WidthScope {
 public:
  WidthScope(Width& width, double w) : width_(width), previous_(width.get()) { width.set(w); }
  ~WidthScope() { width_.set(previous_); }
  WidthScope(const WidthScope&) = delete;
  WidthScope& operator=(const WidthScope&) = delete;

 private:
  Width& width_;
  double previous_;
};

}  // namespace mn
