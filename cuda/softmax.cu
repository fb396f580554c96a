// CUDA softmax / log-softmax over the rows of contiguous (M, K) float32, a warp per row (K <= 1024)
// or a block per row, max-shifted. Backward from the forward's output y:
// softmax dx = y * (dy - sum(dy * y)); log-softmax dx = dy - exp(y) * sum(dy).
#include "cuda/rows.cuh"

namespace mn {

namespace {

using cuda::MaxOp;
using cuda::SumOp;

template <int THREADS>
__global__ void softmax_forward_kernel(const float* __restrict__ x, int64_t m, int64_t k, bool log,
                                       float* __restrict__ y) {
  const int64_t row = cuda::row_index<THREADS>();
  if (row >= m) return;  // uniform across the row's group
  const int lane = cuda::row_lane<THREADS>();
  const float* xr = x + row * k;
  float* yr = y + row * k;
  float mx = -INFINITY;
  for (int64_t j = lane; j < k; j += THREADS) mx = fmaxf(mx, xr[j]);
  mx = cuda::row_allreduce<THREADS>(mx, MaxOp{});
  float s = 0.f;
  for (int64_t j = lane; j < k; j += THREADS) s += expf(xr[j] - mx);
  s = cuda::row_allreduce<THREADS>(s, SumOp{});
  if (log) {
    const float lse = logf(s);
    for (int64_t j = lane; j < k; j += THREADS) yr[j] = xr[j] - mx - lse;
  } else {
    const float inv = 1.f / s;
    for (int64_t j = lane; j < k; j += THREADS) yr[j] = expf(xr[j] - mx) * inv;
  }
}

template <int THREADS>
__global__ void softmax_backward_kernel(const float* __restrict__ y, const float* __restrict__ dy,
                                        int64_t m, int64_t k, bool log, float* __restrict__ dx) {
  const int64_t row = cuda::row_index<THREADS>();
  if (row >= m) return;
  const int lane = cuda::row_lane<THREADS>();
  const float* yr = y + row * k;
  const float* gr = dy + row * k;
  float* dr = dx + row * k;
  float s = 0.f;
  for (int64_t j = lane; j < k; j += THREADS) s += log ? gr[j] : gr[j] * yr[j];
  s = cuda::row_allreduce<THREADS>(s, SumOp{});
  for (int64_t j = lane; j < k; j += THREADS)
    dr[j] = log ? gr[j] - expf(yr[j]) * s : yr[j] * (gr[j] - s);
}

}  // namespace

void CudaBackend::softmax_forward(const Tensor& x, const Tensor& y, bool log) {
  cuda::require_f32(log ? "log_softmax" : "softmax", {&x, &y});
  const int64_t k = x.size(-1), m = k ? x.numel() / k : 0;
  const float* xp = static_cast<const float*>(x.data_ptr());
  float* yp = static_cast<float*>(y.data_ptr());
  cuda::launch_rows(
      m, k,
      [&](unsigned g, int t) { softmax_forward_kernel<32><<<g, t, 0, cuda::stream()>>>(xp, m, k, log, yp); },
      [&](unsigned g, int t) {
        softmax_forward_kernel<cuda::kRowBlock><<<g, t, 0, cuda::stream()>>>(xp, m, k, log, yp);
      });
}

void CudaBackend::softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, bool log) {
  cuda::require_f32(log ? "log_softmax backward" : "softmax backward", {&y, &dy, &dx});
  const int64_t k = y.size(-1), m = k ? y.numel() / k : 0;
  const float* yp = static_cast<const float*>(y.data_ptr());
  const float* gp = static_cast<const float*>(dy.data_ptr());
  float* dp = static_cast<float*>(dx.data_ptr());
  cuda::launch_rows(
      m, k,
      [&](unsigned g, int t) { softmax_backward_kernel<32><<<g, t, 0, cuda::stream()>>>(yp, gp, m, k, log, dp); },
      [&](unsigned g, int t) {
        softmax_backward_kernel<cuda::kRowBlock><<<g, t, 0, cuda::stream()>>>(yp, gp, m, k, log, dp);
      });
}

}  // namespace mn
