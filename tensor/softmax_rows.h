// One row of softmax / log-softmax, shared by the softmax and loss CPU kernels (internal).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace mn::cpu {

// out = softmax(in) or log_softmax(in) over n values; returns log(sum(exp(in - max))) + max, the
// row's log-partition, which the losses reuse.
template <class T>
double softmax_row(const T* in, T* out, int64_t n, bool log) {
  double mx = in[0];
  for (int64_t k = 1; k < n; ++k) mx = std::max(mx, double(in[k]));
  double sum = 0;
  for (int64_t k = 0; k < n; ++k) sum += std::exp(double(in[k]) - mx);
  const double log_z = mx + std::log(sum);
  if (out) {
    for (int64_t k = 0; k < n; ++k)
      out[k] = static_cast<T>(log ? double(in[k]) - log_z : std::exp(double(in[k]) - log_z));
  }
  return log_z;
}

}  // namespace mn::cpu
