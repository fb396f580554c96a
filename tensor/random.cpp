// Seeded random numbers. Distributions are written out (not std::*_distribution, whose output
// differs between standard libraries) so a seed means the same numbers everywhere.
#include "tensor/random.h"

#include <cmath>
#include <sstream>
#include <vector>

namespace mn {

double Generator::uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  double u1 = uniform(), u2 = uniform();
  return std::sqrt(-2.0 * std::log1p(-u1)) * std::cos(2.0 * M_PI * u2);
}

int64_t Generator::randint(int64_t lo, int64_t hi) {
  MN_CHECK(lo <= hi, "randint: empty range [", lo, ", ", hi, "]");
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  if (span == 0) return static_cast<int64_t>(engine_());  // the full 64-bit range
  const uint64_t limit = UINT64_MAX - UINT64_MAX % span;  // rejection keeps it unbiased
  uint64_t r;
  do r = engine_(); while (r >= limit);
  return lo + static_cast<int64_t>(r % span);
}

std::string Generator::state() const {
  std::ostringstream os;
  os << engine_;
  return os.str();
}

void Generator::set_state(const std::string& s) {
  std::istringstream is(s);
  is >> engine_;
  MN_CHECK(!is.fail(), "generator: corrupt random state");
}

namespace ops {

template <class Draw>
static void fill_random(const Tensor& t, const char* op, Draw draw) {
  MN_CHECK(is_floating(t.dtype()), op, ": expects a floating tensor, got ", dtype_name(t.dtype()));
  std::vector<double> v(t.numel());
  for (double& x : v) x = draw();
  t.copy_(Tensor::from_vector(v, t.shape()));
}

void uniform_(const Tensor& t, double lo, double hi, Generator& gen) {
  fill_random(t, "uniform_", [&] { return gen.uniform(lo, hi); });
}

void normal_(const Tensor& t, double mean, double std, Generator& gen) {
  fill_random(t, "normal_", [&] { return mean + std * gen.normal(); });
}

}  // namespace ops
}  // namespace mn
