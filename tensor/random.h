// Deterministic random numbers: a seeded generator (std::mt19937_64 with fixed distributions
// written out here, so results do not depend on the standard library's implementation).
#pragma once
#include <cstdint>
#include <random>

#include "tensor/tensor.h"

namespace mn {

// SplitMix64's output function: derives well-mixed, independent seeds from a seed and an index.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : engine_(seed) {}
  uint64_t next_u64() { return engine_(); }
  double uniform();  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal();   // standard normal (Box-Muller)
  int64_t randint(int64_t lo, int64_t hi);  // uniform in [lo, hi]
  // Save / restore the exact state (checkpoints resume the same random stream).
  std::string state() const;
  void set_state(const std::string& s);

 private:
  std::mt19937_64 engine_;
};

namespace ops {
// Fill a float tensor in place, element order = row-major index order (generated on the host
// and copied, so CPU and CUDA tensors get identical values for the same seed).
void uniform_(const Tensor& t, double lo, double hi, Generator& gen);
void normal_(const Tensor& t, double mean, double std, Generator& gen);
}  // namespace ops

}  // namespace mn
