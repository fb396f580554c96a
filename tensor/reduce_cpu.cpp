// CPU row reductions over contiguous (M, K); floating sums accumulate in double.
#include <cmath>
#include <limits>

#include "tensor/cpu_backend.h"
#include "tensor/cpu_loops.h"

namespace mn {

template <class T>
static void reduce_row(ReduceOp op, const T* x, int64_t k, T* out, int64_t* arg) {
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::mean: {
      double s = 0;
      for (int64_t j = 0; j < k; ++j) s += x[j];
      *out = static_cast<T>(op == ReduceOp::mean ? s / k : s);
      return;
    }
    case ReduceOp::max:
    case ReduceOp::min:
    case ReduceOp::argmax: {
      int64_t best = 0;
      for (int64_t j = 1; j < k; ++j) {
        bool better = op == ReduceOp::min ? x[j] < x[best] : x[j] > x[best];
        if (better || (x[j] != x[j] && x[best] == x[best])) best = j;  // NaN wins, as PyTorch
      }
      if (op == ReduceOp::argmax)
        *arg = best;
      else
        *out = x[best];
      return;
    }
    case ReduceOp::var:
    case ReduceOp::var_unbiased: {
      double mean = 0;
      for (int64_t j = 0; j < k; ++j) mean += x[j];
      mean /= k;
      double ss = 0;
      for (int64_t j = 0; j < k; ++j) ss += (x[j] - mean) * (x[j] - mean);
      int64_t denom = op == ReduceOp::var_unbiased ? k - 1 : k;
      *out = static_cast<T>(denom > 0 ? ss / denom : std::numeric_limits<double>::quiet_NaN());
      return;
    }
  }
}

void CpuBackend::reduce_rows(ReduceOp op, const Tensor& out, const Tensor& in) {
  const int64_t m = in.size(0), k = in.size(1);
  cpu::dispatch_all(in.dtype(), "reduce", [&](auto d) {
    using T = decltype(d);
    const T* x = in.data<T>();
    T* o = op == ReduceOp::argmax ? nullptr : out.data<T>();
    int64_t* a = op == ReduceOp::argmax ? out.data<int64_t>() : nullptr;
#pragma omp parallel for if (m * k >= cpu::kParallelGrain && m > 1)
    for (int64_t i = 0; i < m; ++i) reduce_row<T>(op, x + i * k, k, o ? o + i : nullptr, a ? a + i : nullptr);
  });
}

}  // namespace mn
