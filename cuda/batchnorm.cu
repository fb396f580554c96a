// CUDA batch normalisation over (N, H, W) per channel of contiguous NCHW, or of NHWC under
// channels-last activations, float32 or bfloat16 (mixed precision): the activations and their
// gradients in T, everything per channel (parameters, running and saved statistics, dgamma,
// dbeta) and all arithmetic in float32.
//
// Statistics: NCHW blocks of (channel, segment of images), each warp walking whole H*W planes of
// its channel (coalesced, no index division); NHWC blocks of (32 channels, segment of rows), lane
// l of every warp on channel l of the 32 (adjacent in memory: coalesced) and the warps on every
// 8th row. Threads accumulate sums shifted by a per-channel pivot (the channel's first value,
// which keeps sum-of-squares cancellation small), then the block merges them into a
// (count, mean, M2) Welford state per channel and segment. A per-channel kernel merges the
// segments, saves mean and 1/sqrt(var + eps) and updates the running statistics (unbiased
// variance, as PyTorch). Normalisation and the input gradient are one pass each: one warp per
// plane in NCHW, one thread per element (its channel = index mod C) in NHWC.
// Backward: per-channel sums of dy and dy * xhat reduce the same way; eval mode (running
// statistics, saved by the forward as mean / invstd) makes dx = dy * gamma * invstd.
// Fused ReLU (RELU = true): the normalisation stores max(0, y), and both backward passes read
// dy as zero where the forward's output is not positive, so no masked copy of dy is made.
// Synchronized batch norm's phases reuse the same kernels: statistics = the stats kernel with a
// finalize writing mean and biased variance; the backward's reduce = the gradient sums with
// x - mean in place of xhat; its apply = the input gradient pass on the all-reduced sums.
#include <algorithm>

#include "cuda/dtype.cuh"

namespace mn {

namespace {

using cuda::load;
using cuda::store;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

struct Moments {
  float n, mean, m2;
};

__device__ Moments merge(Moments a, Moments b) {
  if (a.n == 0.f) return b;
  if (b.n == 0.f) return a;
  const float n = a.n + b.n, delta = b.mean - a.mean, wb = b.n / n;
  return {n, a.mean + delta * wb, a.m2 + b.m2 + delta * delta * a.n * wb};
}

__device__ Moments shfl_down(Moments m, int d) {
  return {__shfl_down_sync(0xffffffffu, m.n, d), __shfl_down_sync(0xffffffffu, m.mean, d),
          __shfl_down_sync(0xffffffffu, m.m2, d)};
}

__device__ float2 shfl_down(float2 v, int d) {
  return {__shfl_down_sync(0xffffffffu, v.x, d), __shfl_down_sync(0xffffffffu, v.y, d)};
}

__device__ Moments merge_any(Moments a, Moments b) { return merge(a, b); }
__device__ float2 merge_any(float2 a, float2 b) { return {a.x + b.x, a.y + b.y}; }

// Reduces one value per thread to thread 0 of the block.
template <class V>
__device__ V block_reduce(V v, V identity) {
  __shared__ V warp_vals[kWarps];
  for (int d = 16; d > 0; d /= 2) v = merge_any(v, shfl_down(v, d));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_vals[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kWarps ? warp_vals[lane] : identity;
    for (int d = 16; d > 0; d /= 2) v = merge_any(v, shfl_down(v, d));
  }
  return v;
}

// One thread's values of a channel, as sums of d = x - pivot.
struct ShiftedSums {
  float s = 0.f, ss = 0.f;
  int count = 0;
  __device__ void add(float d) {
    s += d;
    ss += d * d;
    ++count;
  }
  __device__ Moments moments(float pivot) const {
    if (count == 0) return {0.f, 0.f, 0.f};
    const float fn = static_cast<float>(count), mean_d = s / fn;
    return {fn, pivot + mean_d, fmaxf(ss - s * mean_d, 0.f)};
  }
};

// NCHW, grid (C, segments): moments of channel c over images [s * per_seg, (s + 1) * per_seg).
template <class T>
__global__ void stats_kernel(const T* __restrict__ x, int n_img, int channels, int hw,
                             int per_seg, Moments* __restrict__ partial) {
  const int c = blockIdx.x, seg = blockIdx.y;
  const int n0 = seg * per_seg, n1 = min(n_img, n0 + per_seg);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float pivot = load(x[static_cast<int64_t>(c) * hw]);
  ShiftedSums sums;
  for (int n = n0 + warp; n < n1; n += kWarps) {
    const T* p = x + (static_cast<int64_t>(n) * channels + c) * hw;
#pragma unroll 4
    for (int i = lane; i < hw; i += 32) sums.add(load(p[i]) - pivot);
  }
  const Moments m = block_reduce(sums.moments(pivot), Moments{0.f, 0.f, 0.f});
  if (threadIdx.x == 0) partial[static_cast<int64_t>(c) * gridDim.y + seg] = m;
}

// NHWC, grid (ceil(C / 32), segments): lane l of every warp takes channel blockIdx.x * 32 + l over
// rows (n, h, w) [s * per_seg, (s + 1) * per_seg), warp w the rows w, w + 8, ...; warp 0 merges
// the warps' states of its channel.
template <class T>
__global__ void stats_nhwc_kernel(const T* __restrict__ x, int64_t rows, int channels,
                                  int64_t per_seg, Moments* __restrict__ partial) {
  __shared__ Moments warp_moments[kWarps][32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int c = blockIdx.x * 32 + lane, seg = blockIdx.y;
  const int64_t r0 = seg * per_seg, r1 = min(rows, r0 + per_seg);
  Moments m{0.f, 0.f, 0.f};
  if (c < channels) {
    const float pivot = load(x[c]);
    ShiftedSums sums;
#pragma unroll 4
    for (int64_t r = r0 + warp; r < r1; r += kWarps) sums.add(load(x[r * channels + c]) - pivot);
    m = sums.moments(pivot);
  }
  warp_moments[warp][lane] = m;
  __syncthreads();
  if (warp != 0 || c >= channels) return;
  for (int w = 1; w < kWarps; ++w) m = merge(m, warp_moments[w][lane]);
  partial[static_cast<int64_t>(c) * gridDim.y + seg] = m;
}

__device__ Moments merge_segments(const Moments* __restrict__ partial, int segments, int c) {
  Moments m{0.f, 0.f, 0.f};
  for (int s = 0; s < segments; ++s) m = merge(m, partial[static_cast<int64_t>(c) * segments + s]);
  return m;
}

// One thread per channel: merge segments, save statistics, update running statistics.
__global__ void finalize_stats_kernel(const Moments* __restrict__ partial, int segments,
                                      int channels, float eps, float momentum,
                                      float* __restrict__ save_mean, float* __restrict__ save_invstd,
                                      float* __restrict__ running_mean, float* __restrict__ running_var) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const Moments m = merge_segments(partial, segments, c);
  const float var = m.m2 / m.n;
  save_mean[c] = m.mean;
  save_invstd[c] = 1.f / sqrtf(var + eps);
  if (running_mean) running_mean[c] = (1.f - momentum) * running_mean[c] + momentum * m.mean;
  if (running_var) {
    const float unbiased = m.n > 1.f ? m.m2 / (m.n - 1.f) : var;
    running_var[c] = (1.f - momentum) * running_var[c] + momentum * unbiased;
  }
}

// Synchronized batch norm's first phase: one thread per channel, this process's batch mean and
// biased variance.
__global__ void finalize_moments_kernel(const Moments* __restrict__ partial, int segments,
                                        int channels, float* __restrict__ mean,
                                        float* __restrict__ var) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const Moments m = merge_segments(partial, segments, c);
  mean[c] = m.mean;
  var[c] = m.m2 / m.n;
}

// Eval mode: the running statistics are the ones to normalise with (and to save for backward).
__global__ void eval_stats_kernel(const float* __restrict__ running_mean,
                                  const float* __restrict__ running_var, int channels, float eps,
                                  float* __restrict__ save_mean, float* __restrict__ save_invstd) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  save_mean[c] = running_mean[c];
  save_invstd[c] = 1.f / sqrtf(running_var[c] + eps);
}

// y = (x - mean) * invstd * gamma + beta = x * scale + shift for channel c, and max(0, y) with
// RELU (NaN passes through, as the relu op).
struct Affine {
  float scale, shift;
  __device__ Affine(const float* __restrict__ mean, const float* __restrict__ invstd,
                    const float* __restrict__ gamma, const float* __restrict__ beta, int c)
      : scale(invstd[c] * (gamma ? gamma[c] : 1.f)), shift((beta ? beta[c] : 0.f) - mean[c] * scale) {}
  template <bool RELU, class T>
  __device__ T apply(T x) const {
    const float v = fmaf(load(x), scale, shift);
    return store<T>(RELU && v < 0.f ? 0.f : v);
  }
};

// NCHW: one warp per (n, c) plane.
template <bool RELU, class T>
__global__ void normalize_kernel(const T* __restrict__ x, const float* __restrict__ mean,
                                 const float* __restrict__ invstd, const float* __restrict__ gamma,
                                 const float* __restrict__ beta, int64_t planes, int channels,
                                 int hw, T* __restrict__ y) {
  const int64_t plane = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (plane >= planes) return;
  const int c = static_cast<int>(plane % channels), lane = threadIdx.x % 32;
  const Affine f(mean, invstd, gamma, beta, c);
  const T* p = x + plane * hw;
  T* q = y + plane * hw;
#pragma unroll 4
  for (int i = lane; i < hw; i += 32) q[i] = f.template apply<RELU>(p[i]);
}

// NHWC: one thread per element, grid-stride.
template <bool RELU, class T>
__global__ void normalize_nhwc_kernel(const T* __restrict__ x, const float* __restrict__ mean,
                                      const float* __restrict__ invstd,
                                      const float* __restrict__ gamma,
                                      const float* __restrict__ beta, int64_t n, int channels,
                                      T* __restrict__ y) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Affine f(mean, invstd, gamma, beta, static_cast<int>(i % channels));
    y[i] = f.template apply<RELU>(x[i]);
  }
}

// The gradient reaching the batch norm at element i: dy, read as zero with RELU where the
// forward's output y is not positive (as the relu_backward op).
template <bool RELU, class T>
__device__ __forceinline__ float grad_at(const T* __restrict__ dy, const T* __restrict__ y, int64_t i) {
  if constexpr (RELU) return load(y[i]) > 0.f ? load(dy[i]) : 0.f;
  else return load(dy[i]);
}

// Adds element i's g and g * (x - mu) * is to sums, g being dy masked by y with RELU.
template <bool RELU, class T>
__device__ __forceinline__ void add_grad(float2& sums, const T* __restrict__ dy, const T* __restrict__ x,
                                         const T* __restrict__ y, int64_t i, float mu, float is) {
  const float g = grad_at<RELU>(dy, y, i);
  sums.x += g;
  sums.y += g * (load(x[i]) - mu) * is;
}

// NCHW, grid (C, segments): per-channel sums of g and g * xhat, g being dy masked by y with RELU.
// Without invstd (the sync phases) the second sum is of g * (x - mean).
template <bool RELU, class T>
__global__ void grad_sums_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                 const T* __restrict__ y, const float* __restrict__ mean,
                                 const float* __restrict__ invstd, int n_img, int channels, int hw,
                                 int per_seg, float2* __restrict__ partial) {
  const int c = blockIdx.x, seg = blockIdx.y;
  const int n0 = seg * per_seg, n1 = min(n_img, n0 + per_seg);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float mu = mean[c], is = invstd ? invstd[c] : 1.f;
  float2 sums{0.f, 0.f};
  for (int n = n0 + warp; n < n1; n += kWarps) {
    const int64_t base = (static_cast<int64_t>(n) * channels + c) * hw;
#pragma unroll 4
    for (int i = lane; i < hw; i += 32) add_grad<RELU>(sums, dy, x, y, base + i, mu, is);
  }
  sums = block_reduce(sums, float2{0.f, 0.f});
  if (threadIdx.x == 0) partial[static_cast<int64_t>(c) * gridDim.y + seg] = sums;
}

// NHWC, grid (ceil(C / 32), segments), threads as in stats_nhwc_kernel.
template <bool RELU, class T>
__global__ void grad_sums_nhwc_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                      const T* __restrict__ y, const float* __restrict__ mean,
                                      const float* __restrict__ invstd, int64_t rows, int channels,
                                      int64_t per_seg, float2* __restrict__ partial) {
  __shared__ float2 warp_sums[kWarps][32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int c = blockIdx.x * 32 + lane, seg = blockIdx.y;
  const int64_t r0 = seg * per_seg, r1 = min(rows, r0 + per_seg);
  float2 sums{0.f, 0.f};
  if (c < channels) {
    const float mu = mean[c], is = invstd ? invstd[c] : 1.f;
#pragma unroll 4
    for (int64_t r = r0 + warp; r < r1; r += kWarps) add_grad<RELU>(sums, dy, x, y, r * channels + c, mu, is);
  }
  warp_sums[warp][lane] = sums;
  __syncthreads();
  if (warp != 0 || c >= channels) return;
  for (int w = 1; w < kWarps; ++w) sums = merge_any(sums, warp_sums[w][lane]);
  partial[static_cast<int64_t>(c) * gridDim.y + seg] = sums;
}

// One thread per channel: dbeta = sum dy, dgamma = sum dy * xhat, and (when sums is given) the
// per-channel sums the input gradient needs. The sync phases pass their sum_g and sum_gx as
// dbeta and dgamma.
__global__ void finalize_grads_kernel(const float2* __restrict__ partial, int segments, int channels,
                                      float* __restrict__ dgamma, float* __restrict__ dbeta,
                                      float2* __restrict__ sums) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  float2 t{0.f, 0.f};
  for (int s = 0; s < segments; ++s) {
    const float2 p = partial[static_cast<int64_t>(c) * segments + s];
    t.x += p.x;
    t.y += p.y;
  }
  if (dbeta) dbeta[c] = t.x;
  if (dgamma) dgamma[c] = t.y;
  if (sums) sums[c] = t;
}

// Per-channel sums for the input gradient: sum_g[c * stride] and sum_gx[c * stride], the
// latter a sum of g * xhat, or of g * (x - mean) when gx_of_xmu (the sync phases' form).
struct GradSums {
  const float* sum_g;
  const float* sum_gx;
  int stride;
  bool gx_of_xmu;
};

// A float2 sums array ({sum g, sum g * xhat} per channel), or none (eval mode).
GradSums xhat_sums(const float2* sums) {
  if (!sums) return {nullptr, nullptr, 0, false};
  const float* flat = reinterpret_cast<const float*>(sums);  // x, y, x, y, ...
  return {flat, flat + 1, 2, false};
}

// The input gradient for channel c, g being dy masked by y with RELU. Training:
// dx = gamma * invstd * (g - mean(g) - xhat * mean(g * xhat)); eval (no sums):
// dx = gamma * invstd * g (the statistics are constants).
struct InputGrad {
  float k, mu, is;
  bool training;
  float mean_g = 0.f, mean_gxhat = 0.f;
  __device__ InputGrad(const float* __restrict__ mean, const float* __restrict__ invstd,
                       const float* __restrict__ gamma, const GradSums& sums, float inv_count, int c)
      : k(invstd[c] * (gamma ? gamma[c] : 1.f)), mu(mean[c]), is(invstd[c]), training(sums.sum_g != nullptr) {
    if (!training) return;
    const int64_t j = static_cast<int64_t>(c) * sums.stride;
    mean_g = sums.sum_g[j] * inv_count;
    mean_gxhat = (sums.gx_of_xmu ? sums.sum_gx[j] * is : sums.sum_gx[j]) * inv_count;
  }
  template <bool RELU, class T>
  __device__ T at(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ y,
                  int64_t i) const {
    const float g = grad_at<RELU>(dy, y, i);
    if (!training) return store<T>(k * g);
    return store<T>(k * (g - mean_g - (load(x[i]) - mu) * is * mean_gxhat));
  }
};

// NCHW: one warp per plane.
template <bool RELU, class T>
__global__ void input_grad_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                  const T* __restrict__ y, const float* __restrict__ mean,
                                  const float* __restrict__ invstd,
                                  const float* __restrict__ gamma, GradSums sums,
                                  float inv_count, int64_t planes, int channels, int hw,
                                  T* __restrict__ dx) {
  const int64_t plane = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (plane >= planes) return;
  const int lane = threadIdx.x % 32;
  const InputGrad f(mean, invstd, gamma, sums, inv_count, static_cast<int>(plane % channels));
  const int64_t base = plane * hw;
#pragma unroll 4
  for (int i = lane; i < hw; i += 32) dx[base + i] = f.template at<RELU>(dy, x, y, base + i);
}

// NHWC: one thread per element, grid-stride.
template <bool RELU, class T>
__global__ void input_grad_nhwc_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                       const T* __restrict__ y, const float* __restrict__ mean,
                                       const float* __restrict__ invstd,
                                       const float* __restrict__ gamma, GradSums sums,
                                       float inv_count, int64_t n, int channels,
                                       T* __restrict__ dx) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const InputGrad f(mean, invstd, gamma, sums, inv_count, static_cast<int>(i % channels));
    dx[i] = f.template at<RELU>(dy, x, y, i);
  }
}

float* fptr(const Tensor& t) { return t.defined() ? static_cast<float*>(t.data_ptr()) : nullptr; }

template <class T>
T* tptr(const Tensor& t) { return t.defined() ? static_cast<T*>(t.data_ptr()) : nullptr; }

struct Geometry {
  int n, c, hw;
  int64_t planes, count;  // n * c planes; n * hw values per channel (NHWC rows)
  bool nhwc;
  // Reductions: blocks of (channel, segment of images) in NCHW, of (32 channels, segment of rows)
  // in NHWC, segments sized so that about 4 blocks per SM run.
  int segments;
  int64_t per_seg;  // images (NCHW) or rows (NHWC) per segment
  dim3 reduce_grid;
};

Geometry geometry_of(const Tensor& x) {
  for (int d = 0; d < 4; ++d)
    MN_CHECK(x.size(d) <= INT32_MAX, "batchnorm: dim ", d, " of ", shape_str(x.shape()), " is too large");
  MN_CHECK(x.size(2) * x.size(3) <= INT32_MAX, "batchnorm: planes of ", shape_str(x.shape()), " are too large");
  Geometry g;
  g.n = static_cast<int>(x.size(0));
  g.c = static_cast<int>(x.size(1));
  g.hw = static_cast<int>(x.size(2) * x.size(3));
  g.planes = static_cast<int64_t>(g.n) * g.c;
  g.count = static_cast<int64_t>(g.n) * g.hw;
  g.nhwc = cuda::channels_last();
  const int64_t channel_blocks = g.nhwc ? (g.c + 31) / 32 : g.c;
  // NHWC segments get at least one row per warp.
  const int64_t items = g.nhwc ? g.count : g.n, most = g.nhwc ? items / kWarps : items;
  const int64_t want = (4 * cuda::num_sms() + channel_blocks - 1) / std::max<int64_t>(channel_blocks, 1);
  const int64_t segments = std::max<int64_t>(1, std::min<int64_t>({want, most, 65535}));
  g.per_seg = std::max<int64_t>(1, (items + segments - 1) / segments);
  g.segments = static_cast<int>(std::max<int64_t>(1, (items + g.per_seg - 1) / g.per_seg));
  g.reduce_grid = dim3(static_cast<unsigned>(channel_blocks), static_cast<unsigned>(g.segments));
  return g;
}

unsigned plane_blocks(int64_t planes) { return static_cast<unsigned>((planes + kWarps - 1) / kWarps); }

// The kernels of each pass in the geometry's layout.

template <class T>
void launch_stats(const Geometry& g, const Tensor& x, Moments* partial) {
  cudaStream_t st = cuda::stream();
  if (g.nhwc)
    stats_nhwc_kernel<T><<<g.reduce_grid, kThreads, 0, st>>>(tptr<T>(x), g.count, g.c, g.per_seg, partial);
  else
    stats_kernel<T><<<g.reduce_grid, kThreads, 0, st>>>(tptr<T>(x), g.n, g.c, g.hw,
                                                        static_cast<int>(g.per_seg), partial);
  MN_CUDA_LAUNCH_CHECK();
}

// invstd null: the second sum is of g * (x - mean) (the sync phases).
template <bool RELU, class T>
void launch_grad_sums(const Geometry& g, const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                      const float* mean, const float* invstd, float2* partial) {
  cudaStream_t st = cuda::stream();
  if (g.nhwc)
    grad_sums_nhwc_kernel<RELU, T><<<g.reduce_grid, kThreads, 0, st>>>(
        tptr<T>(dy), tptr<T>(x), tptr<T>(relu_y), mean, invstd, g.count, g.c, g.per_seg, partial);
  else
    grad_sums_kernel<RELU, T><<<g.reduce_grid, kThreads, 0, st>>>(
        tptr<T>(dy), tptr<T>(x), tptr<T>(relu_y), mean, invstd, g.n, g.c, g.hw,
        static_cast<int>(g.per_seg), partial);
  MN_CUDA_LAUNCH_CHECK();
}

template <bool RELU, class T>
void launch_normalize(const Geometry& g, const Tensor& x, const float* mean, const float* invstd,
                      const Tensor& gamma, const Tensor& beta, const Tensor& y) {
  if (g.planes == 0 || g.hw == 0) return;
  cudaStream_t st = cuda::stream();
  if (g.nhwc) {
    const int64_t n = g.planes * g.hw;
    normalize_nhwc_kernel<RELU, T><<<cuda::grid_for(n, kThreads), kThreads, 0, st>>>(
        tptr<T>(x), mean, invstd, fptr(gamma), fptr(beta), n, g.c, tptr<T>(y));
  } else {
    normalize_kernel<RELU, T><<<plane_blocks(g.planes), kThreads, 0, st>>>(
        tptr<T>(x), mean, invstd, fptr(gamma), fptr(beta), g.planes, g.c, g.hw, tptr<T>(y));
  }
  MN_CUDA_LAUNCH_CHECK();
}

template <bool RELU, class T>
void launch_input_grad(const Geometry& g, const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                       const Tensor& mean, const Tensor& invstd, const Tensor& gamma,
                       GradSums sums, float inv_count, const Tensor& dx) {
  if (g.planes == 0 || g.hw == 0) return;
  cudaStream_t st = cuda::stream();
  if (g.nhwc) {
    const int64_t n = g.planes * g.hw;
    input_grad_nhwc_kernel<RELU, T><<<cuda::grid_for(n, kThreads), kThreads, 0, st>>>(
        tptr<T>(dy), tptr<T>(x), tptr<T>(relu_y), fptr(mean), fptr(invstd), fptr(gamma), sums,
        inv_count, n, g.c, tptr<T>(dx));
  } else {
    input_grad_kernel<RELU, T><<<plane_blocks(g.planes), kThreads, 0, st>>>(
        tptr<T>(dy), tptr<T>(x), tptr<T>(relu_y), fptr(mean), fptr(invstd), fptr(gamma), sums,
        inv_count, g.planes, g.c, g.hw, tptr<T>(dx));
  }
  MN_CUDA_LAUNCH_CHECK();
}

unsigned per_channel_blocks(const Geometry& g) { return static_cast<unsigned>((g.c + 127) / 128); }

template <bool RELU>
void forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
             const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
             const Tensor& save_mean, const Tensor& save_invstd) {
  cuda::require_dtype("batchnorm", x.dtype(), {&y});
  cuda::require_f32("batchnorm", {&gamma, &beta, &running_mean, &running_var, &save_mean, &save_invstd});
  const Geometry g = geometry_of(x);
  if (g.c == 0) return;
  cudaStream_t st = cuda::stream();
  // The saved statistics double as the normalisation's inputs; scratch if the caller keeps none.
  cuda::Buffer scratch(save_mean.defined() && save_invstd.defined() ? 0 : 2 * g.c * sizeof(float));
  float* mean = save_mean.defined() ? fptr(save_mean) : scratch.as<float>();
  float* invstd = save_invstd.defined() ? fptr(save_invstd) : scratch.as<float>() + g.c;
  cuda::dispatch_activation(x.dtype(), "batchnorm", [&](auto t) {
    using T = decltype(t);
    if (training) {
      MN_CHECK(g.count > 0, "batchnorm: no values per channel in ", shape_str(x.shape()));
      cuda::Buffer partial(static_cast<size_t>(g.c) * g.segments * sizeof(Moments));
      launch_stats<T>(g, x, partial.as<Moments>());
      finalize_stats_kernel<<<per_channel_blocks(g), 128, 0, st>>>(
          partial.as<Moments>(), g.segments, g.c, static_cast<float>(eps),
          static_cast<float>(momentum), mean, invstd, fptr(running_mean),
          fptr(running_var));
      MN_CUDA_LAUNCH_CHECK();
    } else {
      MN_CHECK(running_mean.defined() && running_var.defined(),
               "batchnorm: eval mode needs running statistics");
      eval_stats_kernel<<<per_channel_blocks(g), 128, 0, st>>>(fptr(running_mean), fptr(running_var),
                                                               g.c, static_cast<float>(eps), mean, invstd);
      MN_CUDA_LAUNCH_CHECK();
    }
    launch_normalize<RELU, T>(g, x, mean, invstd, gamma, beta, y);
  });
}

// relu_y: the fused forward's output when RELU (dy is masked by it), undefined otherwise.
template <bool RELU>
void backward(const Tensor& dy, const Tensor& x, const Tensor& relu_y, const Tensor& gamma,
              const Tensor& save_mean, const Tensor& save_invstd, bool training, const Tensor& dx,
              const Tensor& dgamma, const Tensor& dbeta) {
  cuda::require_dtype("batchnorm backward", x.dtype(), {&dy, &relu_y, &dx});
  cuda::require_f32("batchnorm backward", {&gamma, &save_mean, &save_invstd, &dgamma, &dbeta});
  MN_CHECK(!RELU || relu_y.defined(), "batchnorm backward: the fused ReLU needs the forward's output");
  const Geometry g = geometry_of(x);
  if (g.c == 0) return;
  cudaStream_t st = cuda::stream();
  const bool need_sums = training || dgamma.defined() || dbeta.defined();
  cuda::Buffer sums(need_sums ? static_cast<size_t>(g.c) * sizeof(float2) : 0);
  cuda::dispatch_activation(x.dtype(), "batchnorm backward", [&](auto t) {
    using T = decltype(t);
    if (need_sums) {
      cuda::Buffer partial(static_cast<size_t>(g.c) * g.segments * sizeof(float2));
      launch_grad_sums<RELU, T>(g, dy, x, relu_y, fptr(save_mean), fptr(save_invstd), partial.as<float2>());
      finalize_grads_kernel<<<per_channel_blocks(g), 128, 0, st>>>(
          partial.as<float2>(), g.segments, g.c, fptr(dgamma), fptr(dbeta), sums.as<float2>());
      MN_CUDA_LAUNCH_CHECK();
    }
    if (!dx.defined()) return;
    launch_input_grad<RELU, T>(g, dy, x, relu_y, save_mean, save_invstd, gamma,
                               xhat_sums(training ? sums.as<float2>() : nullptr),
                               1.f / static_cast<float>(g.count), dx);
  });
}

}  // namespace

void CudaBackend::batchnorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    const Tensor& running_mean, const Tensor& running_var,
                                    bool training, double momentum, double eps, const Tensor& y,
                                    const Tensor& save_mean, const Tensor& save_invstd) {
  forward<false>(x, gamma, beta, running_mean, running_var, training, momentum, eps, y, save_mean,
                 save_invstd);
}

void CudaBackend::batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                     const Tensor& save_mean, const Tensor& save_invstd,
                                     bool training, const Tensor& dx, const Tensor& dgamma,
                                     const Tensor& dbeta) {
  backward<false>(dy, x, Tensor(), gamma, save_mean, save_invstd, training, dx, dgamma, dbeta);
}

void CudaBackend::batchnorm_relu_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                         const Tensor& running_mean, const Tensor& running_var,
                                         bool training, double momentum, double eps,
                                         const Tensor& y, const Tensor& save_mean,
                                         const Tensor& save_invstd) {
  forward<true>(x, gamma, beta, running_mean, running_var, training, momentum, eps, y, save_mean,
                save_invstd);
}

void CudaBackend::batchnorm_relu_backward(const Tensor& dy, const Tensor& x, const Tensor& y,
                                          const Tensor& gamma, const Tensor& save_mean,
                                          const Tensor& save_invstd, bool training,
                                          const Tensor& dx, const Tensor& dgamma,
                                          const Tensor& dbeta) {
  backward<true>(dy, x, y, gamma, save_mean, save_invstd, training, dx, dgamma, dbeta);
}

void CudaBackend::batchnorm_stats(const Tensor& x, const Tensor& mean, const Tensor& var) {
  cuda::require_f32("batchnorm statistics", {&mean, &var});
  MN_CHECK(x.numel() > 0, "batchnorm statistics: empty input ", shape_str(x.shape()));
  const Geometry g = geometry_of(x);
  cuda::dispatch_activation(x.dtype(), "batchnorm statistics", [&](auto t) {
    using T = decltype(t);
    cuda::Buffer partial(static_cast<size_t>(g.c) * g.segments * sizeof(Moments));
    launch_stats<T>(g, x, partial.as<Moments>());
    finalize_moments_kernel<<<per_channel_blocks(g), 128, 0, cuda::stream()>>>(
        partial.as<Moments>(), g.segments, g.c, fptr(mean), fptr(var));
    MN_CUDA_LAUNCH_CHECK();
  });
}

void CudaBackend::batchnorm_backward_reduce(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                            const Tensor& mean, const Tensor& sum_g,
                                            const Tensor& sum_gx) {
  cuda::require_dtype("batchnorm backward", x.dtype(), {&dy, &relu_y});
  cuda::require_f32("batchnorm backward", {&mean, &sum_g, &sum_gx});
  if (x.size(1) == 0) return;
  cudaStream_t st = cuda::stream();
  if (x.numel() == 0) {  // sums over no values
    MN_CUDA_CHECK(cudaMemsetAsync(sum_g.data_ptr(), 0, sum_g.numel() * sizeof(float), st));
    MN_CUDA_CHECK(cudaMemsetAsync(sum_gx.data_ptr(), 0, sum_gx.numel() * sizeof(float), st));
    return;
  }
  const Geometry g = geometry_of(x);
  cuda::dispatch_activation(x.dtype(), "batchnorm backward", [&](auto t) {
    using T = decltype(t);
    cuda::Buffer partial(static_cast<size_t>(g.c) * g.segments * sizeof(float2));
    // No invstd: the second sum is of g * (x - mean).
    (relu_y.defined() ? launch_grad_sums<true, T> : launch_grad_sums<false, T>)(
        g, dy, x, relu_y, fptr(mean), nullptr, partial.as<float2>());
    finalize_grads_kernel<<<per_channel_blocks(g), 128, 0, st>>>(
        partial.as<float2>(), g.segments, g.c, fptr(sum_gx), fptr(sum_g), nullptr);
    MN_CUDA_LAUNCH_CHECK();
  });
}

void CudaBackend::batchnorm_backward_apply(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                           const Tensor& mean, const Tensor& invstd,
                                           const Tensor& gamma, const Tensor& sum_g,
                                           const Tensor& sum_gx, double count, const Tensor& dx) {
  cuda::require_dtype("batchnorm backward", x.dtype(), {&dy, &relu_y, &dx});
  cuda::require_f32("batchnorm backward", {&mean, &invstd, &gamma, &sum_g, &sum_gx});
  if (x.numel() == 0) return;
  MN_CHECK(count > 0, "batchnorm backward: values per channel must be positive, got ", count);
  const Geometry g = geometry_of(x);
  cuda::dispatch_activation(x.dtype(), "batchnorm backward", [&](auto t) {
    using T = decltype(t);
    (relu_y.defined() ? launch_input_grad<true, T> : launch_input_grad<false, T>)(
        g, dy, x, relu_y, mean, invstd, gamma, GradSums{fptr(sum_g), fptr(sum_gx), 1, true},
        static_cast<float>(1.0 / count), dx);
  });
}

}  // namespace mn
