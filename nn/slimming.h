// Slimming: how many output channels a slimmable layer uses. Layers built with the same Slimming
// object follow one width together; the rule itself (the active width multiplier, rounding to a
// divisor) belongs to whoever owns the network (mutualnet/width.h), not to nn.
//
// `channels` is the layer's channel count at width 1.0; `ratio` ties a count to another one, as
// the public slimmable code does (MobileNet v2's expanded channels are counted in units of the
// expansion t: round(c * w / t) * t, so they stay an exact multiple of the block's input width).
#pragma once
#include <cstdint>

namespace mn::nn {

class Slimming {
 public:
  virtual ~Slimming() = default;
  virtual int64_t active(int64_t channels, double ratio = 1) const = 0;   // at the current width
  virtual int64_t largest(int64_t channels, double ratio = 1) const = 0;  // parameter size
};

}  // namespace mn::nn
