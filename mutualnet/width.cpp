// make_divisible and the active width.
#include "mutualnet/width.h"

#include <algorithm>

#include "tensor/error.h"

namespace mn {

int64_t make_divisible(double v, int64_t divisor, int64_t min_value) {
  MN_CHECK(divisor >= 1 && v > 0, "make_divisible: value ", v, ", divisor ", divisor);
  // int() of a positive float truncates, as Python's int(v + divisor / 2).
  int64_t n = std::max(min_value, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (static_cast<double>(n) < 0.9 * v) n += divisor;
  return n;
}

Width::Width(int64_t divisor, double max_width, double base)
    : divisor_(divisor), max_width_(max_width), base_(base), width_(max_width) {
  MN_CHECK(base > 0 && base <= 1, "width: base width ", base, " must be in (0, 1]");
  MN_CHECK(divisor >= 1, "width: divisor ", divisor, " must be >= 1");
  MN_CHECK(max_width > 0, "width: largest width ", max_width, " must be > 0");
}

void Width::set(double width) {
  MN_CHECK(width > 0 && width <= max_width_ + 1e-9, "width: ", width, " is outside (0, ",
           max_width_, "]");
  width_ = width;
}

int64_t Width::channels_at(int64_t channels, double ratio, double width) const {
  MN_CHECK(ratio > 0, "width: channel ratio ", ratio, " must be > 0");
  const double v = static_cast<double>(channels) * (width * base_) / ratio;
  return static_cast<int64_t>(static_cast<double>(make_divisible(v, divisor_)) * ratio);
}

}  // namespace mn
