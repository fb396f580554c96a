// CPU softmax / log-softmax over the rows of a contiguous (M, K) matrix, max-shifted so large
// logits do not overflow; sums in double.
#include <cmath>

#include "tensor/cpu_backend.h"
#include "tensor/cpu_loops.h"
#include "tensor/softmax_rows.h"

namespace mn {

void CpuBackend::softmax_forward(const Tensor& x, const Tensor& y, bool log) {
  cpu::dispatch_float(x.dtype(), "softmax", [&](auto t) {
    using T = decltype(t);
    const int64_t M = x.size(0), K = x.size(1);
    const T* in = x.data<T>();
    T* out = y.data<T>();
#pragma omp parallel for schedule(static) if (M * K >= cpu::kParallelGrain)
    for (int64_t r = 0; r < M; ++r) cpu::softmax_row(in + r * K, out + r * K, K, log);
  });
}

// softmax: dx = y * (dy - sum(dy * y)); log-softmax: dx = dy - softmax * sum(dy).
void CpuBackend::softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, bool log) {
  cpu::dispatch_float(y.dtype(), "softmax backward", [&](auto t) {
    using T = decltype(t);
    const int64_t M = y.size(0), K = y.size(1);
    const T *yp = y.data<T>(), *gp = dy.data<T>();
    T* out = dx.data<T>();
#pragma omp parallel for schedule(static) if (M * K >= cpu::kParallelGrain)
    for (int64_t r = 0; r < M; ++r) {
      const T *yr = yp + r * K, *gr = gp + r * K;
      T* o = out + r * K;
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += log ? double(gr[k]) : double(gr[k]) * yr[k];
      for (int64_t k = 0; k < K; ++k)
        o[k] = log ? static_cast<T>(gr[k] - std::exp(double(yr[k])) * s)
                   : static_cast<T>(yr[k] * (gr[k] - s));
    }
  });
}

}  // namespace mn
