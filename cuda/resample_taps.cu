// CUDA resample_taps: one thread per output pixel computes the vertical sums of the columns it
// needs, then the horizontal sum, in the CPU's order with explicit round-to-nearest multiplies and
// adds (no fused multiply-add), so the result is the CPU's bit for bit.
#include "cuda/common.h"

namespace mn {
namespace {

constexpr int kThreads = 256;

struct Dims {
  int64_t total;
  int h, w, ho, wo, tr, tc;
};

__global__ void resample_taps_kernel(const float* __restrict__ x, const int64_t* __restrict__ rows_first,
                                     const float* __restrict__ rows_weights, const int64_t* __restrict__ cols_first,
                                     const float* __restrict__ cols_weights, Dims d, float* __restrict__ y) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < d.total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int ox = static_cast<int>(i % d.wo), oy = static_cast<int>((i / d.wo) % d.ho);
    const int64_t plane = i / (static_cast<int64_t>(d.wo) * d.ho);
    const float* rw = rows_weights + static_cast<int64_t>(oy) * d.tr;
    const float* cw = cols_weights + static_cast<int64_t>(ox) * d.tc;
    const float* row = x + (plane * d.h + rows_first[oy]) * d.w + cols_first[ox];
    // The vertical sum of column tap t.
    auto column = [&](int t) {
      float v = __fmul_rn(rw[0], row[t]);
      for (int s = 1; s < d.tr; ++s)
        if (rw[s] != 0.0f) v = __fadd_rn(v, __fmul_rn(rw[s], row[static_cast<int64_t>(s) * d.w + t]));
      return v;
    };
    float acc;
    if (d.tc == 2) {
      acc = __fadd_rn(__fmul_rn(cw[0], column(0)), __fmul_rn(cw[1], column(1)));
    } else {
      acc = 0.0f;
      for (int t = 0; t < d.tc; ++t) acc = __fadd_rn(acc, __fmul_rn(cw[t], column(t)));
    }
    y[i] = acc;
  }
}

}  // namespace

void CudaBackend::resample_taps(const Tensor& x, const Tensor& rows_first, const Tensor& rows_weights,
                                const Tensor& cols_first, const Tensor& cols_weights, const Tensor& y) {
  const Dims d{y.numel(),
               static_cast<int>(x.size(2)),
               static_cast<int>(x.size(3)),
               static_cast<int>(y.size(2)),
               static_cast<int>(y.size(3)),
               static_cast<int>(rows_weights.size(1)),
               static_cast<int>(cols_weights.size(1))};
  resample_taps_kernel<<<cuda::grid_for(d.total, kThreads), kThreads, 0, cuda::stream()>>>(
      x.data<float>(), rows_first.data<int64_t>(), rows_weights.data<float>(), cols_first.data<int64_t>(),
      cols_weights.data<float>(), d, y.data<float>());
  MN_CUDA_LAUNCH_CHECK();
}

}  // namespace mn
