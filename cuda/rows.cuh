// Internal to cuda/: helpers for kernels that process the rows of a contiguous (M, K) matrix with
// a group of THREADS threads per row: one warp (THREADS = 32) for rows up to kWarpRowMax long,
// else one block of kRowBlock threads. Used by softmax.cu and loss.cu.
#pragma once
#include "cuda/common.h"

namespace mn::cuda {

constexpr int kRowBlock = 256;
constexpr int64_t kWarpRowMax = 1024;

// The row this thread works on and its index within the row's group.
template <int THREADS>
__device__ inline int64_t row_index() {
  if constexpr (THREADS == 32) return (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  else return blockIdx.x;
}
template <int THREADS>
__device__ inline int row_lane() {
  return THREADS == 32 ? static_cast<int>(threadIdx.x % 32) : static_cast<int>(threadIdx.x);
}

struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
  __device__ static float identity() { return -INFINITY; }
};
struct SumOp {
  template <class T>
  __device__ T operator()(T a, T b) const { return a + b; }
  __device__ static float identity() { return 0.f; }
};

// All-reduce over the row's group: every thread of the group gets the result (T: float, or double
// where a sum must keep more than float's digits).
template <int THREADS, class T, class Op>
__device__ inline T row_allreduce(T v, Op op) {
  for (int d = 16; d > 0; d /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, d));
  if constexpr (THREADS != 32) {
    __shared__ T partial[THREADS / 32];
    __shared__ T result;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();  // a previous call may still be reading `result`
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
      v = lane < THREADS / 32 ? partial[lane] : static_cast<T>(Op::identity());
      for (int d = 16; d > 0; d /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, d));
      if (lane == 0) result = v;
    }
    __syncthreads();
    v = result;
  }
  return v;
}

// Launches kernel<32> (a warp per row) or kernel<kRowBlock> (a block per row) over m rows of k.
template <class LaunchWarp, class LaunchBlock>
void launch_rows(int64_t m, int64_t k, LaunchWarp warp, LaunchBlock block) {
  if (m == 0) return;
  if (k <= kWarpRowMax) {
    warp(grid_for(m * 32, kRowBlock, INT32_MAX), kRowBlock);
  } else {
    MN_CHECK(m <= INT32_MAX, "row kernel: ", m, " rows are too many");
    block(static_cast<unsigned>(m), kRowBlock);
  }
  MN_CUDA_LAUNCH_CHECK();
}

}  // namespace mn::cuda
