// CPU resample_taps, in PlaneResizer's order of float operations (data/resample.cpp): per output
// row the vertical sums of every column (taps of zero weight after the first skipped), then per
// output pixel w0 * v0 + w1 * v1 for two column taps, else a sum from zero over the taps.
#include <vector>

#include "tensor/cpu_backend.h"
#include "tensor/cpu_loops.h"

namespace mn {

void CpuBackend::resample_taps(const Tensor& x, const Tensor& rows_first, const Tensor& rows_weights,
                               const Tensor& cols_first, const Tensor& cols_weights, const Tensor& y) {
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = y.size(2), Wo = y.size(3), Tr = rows_weights.size(1), Tc = cols_weights.size(1);
  const int64_t *rf = rows_first.data<int64_t>(), *cf = cols_first.data<int64_t>();
  const float *rw = rows_weights.data<float>(), *cw = cols_weights.data<float>();
  const float* in = x.data<float>();
  float* out = y.data<float>();
#pragma omp parallel for schedule(static) if (planes * Ho * Wo >= cpu::kParallelGrain)
  for (int64_t p = 0; p < planes; ++p) {
    std::vector<float> v(static_cast<size_t>(W));
    for (int64_t oy = 0; oy < Ho; ++oy) {
      const float* w = rw + oy * Tr;
      const float* row = in + (p * H + rf[oy]) * W;
      for (int64_t j = 0; j < W; ++j) v[j] = w[0] * row[j];
      for (int64_t t = 1; t < Tr; ++t)
        if (w[t] != 0.0f)
          for (int64_t j = 0; j < W; ++j) v[j] += w[t] * row[t * W + j];
      float* o = out + (p * Ho + oy) * Wo;
      for (int64_t ox = 0; ox < Wo; ++ox) {
        const float* c = cw + ox * Tc;
        const float* s = v.data() + cf[ox];
        if (Tc == 2) {
          o[ox] = c[0] * s[0] + c[1] * s[1];
          continue;
        }
        float acc = 0;
        for (int64_t t = 0; t < Tc; ++t) acc += c[t] * s[t];
        o[ox] = acc;
      }
    }
  }
}

}  // namespace mn
