// CUDA batch normalisation over (N, H, W) per channel of contiguous NCHW float32 or bfloat16
// (mixed precision): the activations and their gradients in T, everything per channel (parameters,
// running and saved statistics, dgamma, dbeta) and all arithmetic in float32.
//
// Statistics: blocks of (channel, segment of images); each warp walks whole H*W planes of its
// channel (coalesced, no index division), accumulating sums shifted by a per-channel pivot (the
// channel's first value, which keeps sum-of-squares cancellation small), then the block merges
// into a (count, mean, M2) Welford state. A per-channel kernel merges the segments, saves mean and
// 1/sqrt(var + eps) and updates the running statistics (unbiased variance, as PyTorch).
// Normalisation and the input gradient are one pass each, one warp per plane.
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

// grid (C, segments): moments of channel c over images [s * per_seg, (s + 1) * per_seg).
template <class T>
__global__ void stats_kernel(const T* __restrict__ x, int n_img, int channels, int hw,
                             int per_seg, Moments* __restrict__ partial) {
  const int c = blockIdx.x, seg = blockIdx.y;
  const int n0 = seg * per_seg, n1 = min(n_img, n0 + per_seg);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float pivot = load(x[static_cast<int64_t>(c) * hw]);
  float s = 0.f, ss = 0.f;
  int count = 0;
  for (int n = n0 + warp; n < n1; n += kWarps) {
    const T* p = x + (static_cast<int64_t>(n) * channels + c) * hw;
#pragma unroll 4
    for (int i = lane; i < hw; i += 32) {
      const float d = load(p[i]) - pivot;
      s += d;
      ss += d * d;
      ++count;
    }
  }
  Moments m{0.f, 0.f, 0.f};
  if (count > 0) {
    const float fn = static_cast<float>(count), mean_d = s / fn;
    m = {fn, pivot + mean_d, fmaxf(ss - s * mean_d, 0.f)};
  }
  m = block_reduce(m, Moments{0.f, 0.f, 0.f});
  if (threadIdx.x == 0) partial[static_cast<int64_t>(c) * gridDim.y + seg] = m;
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

// One warp per (n, c) plane: y = (x - mean) * invstd * gamma + beta, and max(0, y) with RELU
// (NaN passes through, as the relu op).
template <bool RELU, class T>
__global__ void normalize_kernel(const T* __restrict__ x, const float* __restrict__ mean,
                                 const float* __restrict__ invstd, const float* __restrict__ gamma,
                                 const float* __restrict__ beta, int64_t planes, int channels,
                                 int hw, T* __restrict__ y) {
  const int64_t plane = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (plane >= planes) return;
  const int c = static_cast<int>(plane % channels), lane = threadIdx.x % 32;
  const float scale = invstd[c] * (gamma ? gamma[c] : 1.f);
  const float shift = (beta ? beta[c] : 0.f) - mean[c] * scale;
  const T* p = x + plane * hw;
  T* q = y + plane * hw;
#pragma unroll 4
  for (int i = lane; i < hw; i += 32) {
    const float v = fmaf(load(p[i]), scale, shift);
    q[i] = store<T>(RELU && v < 0.f ? 0.f : v);
  }
}

// The gradient reaching the batch norm at element i: dy, read as zero with RELU where the
// forward's output y is not positive (as the relu_backward op).
template <bool RELU, class T>
__device__ __forceinline__ float grad_at(const T* __restrict__ dy, const T* __restrict__ y, int64_t i) {
  if constexpr (RELU) return load(y[i]) > 0.f ? load(dy[i]) : 0.f;
  else return load(dy[i]);
}

// grid (C, segments): per-channel sums of g and g * xhat, g being dy masked by y with RELU.
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
  float sum_dy = 0.f, sum_dy_xhat = 0.f;
  for (int n = n0 + warp; n < n1; n += kWarps) {
    const int64_t base = (static_cast<int64_t>(n) * channels + c) * hw;
#pragma unroll 4
    for (int i = lane; i < hw; i += 32) {
      const float g = grad_at<RELU>(dy, y, base + i);
      sum_dy += g;
      sum_dy_xhat += g * (load(x[base + i]) - mu) * is;
    }
  }
  float2 v = block_reduce(float2{sum_dy, sum_dy_xhat}, float2{0.f, 0.f});
  if (threadIdx.x == 0) partial[static_cast<int64_t>(c) * gridDim.y + seg] = v;
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

// One warp per plane, g being dy masked by y with RELU. Training:
// dx = gamma * invstd * (g - mean(g) - xhat * mean(g * xhat)); eval (no sums):
// dx = gamma * invstd * g (the statistics are constants).
template <bool RELU, class T>
__global__ void input_grad_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                  const T* __restrict__ y, const float* __restrict__ mean,
                                  const float* __restrict__ invstd,
                                  const float* __restrict__ gamma, GradSums sums,
                                  float inv_count, int64_t planes, int channels, int hw,
                                  T* __restrict__ dx) {
  const int64_t plane = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (plane >= planes) return;
  const int c = static_cast<int>(plane % channels), lane = threadIdx.x % 32;
  const float is = invstd[c], k = is * (gamma ? gamma[c] : 1.f);
  const T* g = dy + plane * hw;
  const T* relu_y = RELU ? y + plane * hw : nullptr;
  T* out = dx + plane * hw;
  if (!sums.sum_g) {
    for (int i = lane; i < hw; i += 32) out[i] = store<T>(k * grad_at<RELU>(g, relu_y, i));
    return;
  }
  const int64_t at = static_cast<int64_t>(c) * sums.stride;
  const float sum_gx = sums.gx_of_xmu ? sums.sum_gx[at] * is : sums.sum_gx[at];
  const float mu = mean[c], mean_dy = sums.sum_g[at] * inv_count, mean_dy_xhat = sum_gx * inv_count;
  const T* p = x + plane * hw;
#pragma unroll 4
  for (int i = lane; i < hw; i += 32)
    out[i] = store<T>(k * (grad_at<RELU>(g, relu_y, i) - mean_dy - (load(p[i]) - mu) * is * mean_dy_xhat));
}

float* fptr(const Tensor& t) { return t.defined() ? static_cast<float*>(t.data_ptr()) : nullptr; }

template <class T>
T* tptr(const Tensor& t) { return t.defined() ? static_cast<T*>(t.data_ptr()) : nullptr; }

struct Geometry {
  int n, c, hw;
  int64_t planes, count;  // n * c planes; n * hw values per channel
  int segments, per_seg;  // images split so that about 4 blocks per SM run
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
  const int want = std::max(1, (4 * cuda::num_sms() + g.c - 1) / g.c);
  const int segments = std::max(1, std::min({want, g.n, 65535}));
  g.per_seg = (g.n + segments - 1) / segments;
  g.segments = (g.n + g.per_seg - 1) / g.per_seg;
  return g;
}

unsigned plane_blocks(int64_t planes) { return static_cast<unsigned>((planes + kWarps - 1) / kWarps); }

template <bool RELU>
void forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
             const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
             const Tensor& save_mean, const Tensor& save_invstd) {
  cuda::require_dtype("batchnorm", x.dtype(), {&y});
  cuda::require_f32("batchnorm", {&gamma, &beta, &running_mean, &running_var, &save_mean, &save_invstd});
  const Geometry g = geometry_of(x);
  if (g.c == 0) return;
  cudaStream_t st = cuda::stream();
  const unsigned channel_blocks = static_cast<unsigned>((g.c + 127) / 128);
  // The saved statistics double as the normalisation's inputs; scratch if the caller keeps none.
  cuda::Buffer scratch(save_mean.defined() && save_invstd.defined() ? 0 : 2 * g.c * sizeof(float));
  float* mean = save_mean.defined() ? fptr(save_mean) : scratch.as<float>();
  float* invstd = save_invstd.defined() ? fptr(save_invstd) : scratch.as<float>() + g.c;
  cuda::dispatch_activation(x.dtype(), "batchnorm", [&](auto t) {
    using T = decltype(t);
    if (training) {
      MN_CHECK(g.count > 0, "batchnorm: no values per channel in ", shape_str(x.shape()));
      cuda::Buffer partial(static_cast<size_t>(g.c) * g.segments * sizeof(Moments));
      stats_kernel<T><<<dim3(g.c, g.segments), kThreads, 0, st>>>(tptr<T>(x), g.n, g.c, g.hw, g.per_seg,
                                                                  partial.as<Moments>());
      MN_CUDA_LAUNCH_CHECK();
      finalize_stats_kernel<<<channel_blocks, 128, 0, st>>>(
          partial.as<Moments>(), g.segments, g.c, static_cast<float>(eps),
          static_cast<float>(momentum), mean, invstd, fptr(running_mean),
          fptr(running_var));
      MN_CUDA_LAUNCH_CHECK();
    } else {
      MN_CHECK(running_mean.defined() && running_var.defined(),
               "batchnorm: eval mode needs running statistics");
      eval_stats_kernel<<<channel_blocks, 128, 0, st>>>(fptr(running_mean), fptr(running_var), g.c,
                                                        static_cast<float>(eps), mean, invstd);
      MN_CUDA_LAUNCH_CHECK();
    }
    if (g.planes == 0 || g.hw == 0) return;
    normalize_kernel<RELU, T><<<plane_blocks(g.planes), kThreads, 0, st>>>(
        tptr<T>(x), mean, invstd, fptr(gamma), fptr(beta), g.planes, g.c, g.hw, tptr<T>(y));
    MN_CUDA_LAUNCH_CHECK();
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
      grad_sums_kernel<RELU, T><<<dim3(g.c, g.segments), kThreads, 0, st>>>(
          tptr<T>(dy), tptr<T>(x), tptr<T>(relu_y), fptr(save_mean), fptr(save_invstd), g.n, g.c,
          g.hw, g.per_seg, partial.as<float2>());
      MN_CUDA_LAUNCH_CHECK();
      finalize_grads_kernel<<<static_cast<unsigned>((g.c + 127) / 128), 128, 0, st>>>(
          partial.as<float2>(), g.segments, g.c, fptr(dgamma), fptr(dbeta), sums.as<float2>());
      MN_CUDA_LAUNCH_CHECK();
    }
    if (!dx.defined() || g.planes == 0 || g.hw == 0) return;
    input_grad_kernel<RELU, T><<<plane_blocks(g.planes), kThreads, 0, st>>>(
        tptr<T>(dy), tptr<T>(x), tptr<T>(relu_y), fptr(save_mean), fptr(save_invstd), fptr(gamma),
        xhat_sums(training ? sums.as<float2>() : nullptr), 1.f / static_cast<float>(g.count),
        g.planes, g.c, g.hw, tptr<T>(dx));
    MN_CUDA_LAUNCH_CHECK();
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
  cudaStream_t st = cuda::stream();
  cuda::dispatch_activation(x.dtype(), "batchnorm statistics", [&](auto t) {
    using T = decltype(t);
    cuda::Buffer partial(static_cast<size_t>(g.c) * g.segments * sizeof(Moments));
    stats_kernel<T><<<dim3(g.c, g.segments), kThreads, 0, st>>>(tptr<T>(x), g.n, g.c, g.hw, g.per_seg,
                                                                partial.as<Moments>());
    MN_CUDA_LAUNCH_CHECK();
    finalize_moments_kernel<<<static_cast<unsigned>((g.c + 127) / 128), 128, 0, st>>>(
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
    auto reduce = relu_y.defined() ? grad_sums_kernel<true, T> : grad_sums_kernel<false, T>;
    reduce<<<dim3(g.c, g.segments), kThreads, 0, st>>>(tptr<T>(dy), tptr<T>(x), tptr<T>(relu_y),
                                                       fptr(mean), nullptr, g.n, g.c, g.hw,
                                                       g.per_seg, partial.as<float2>());
    MN_CUDA_LAUNCH_CHECK();
    finalize_grads_kernel<<<static_cast<unsigned>((g.c + 127) / 128), 128, 0, st>>>(
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
  cudaStream_t st = cuda::stream();
  cuda::dispatch_activation(x.dtype(), "batchnorm backward", [&](auto t) {
    using T = decltype(t);
    auto apply = relu_y.defined() ? input_grad_kernel<true, T> : input_grad_kernel<false, T>;
    apply<<<plane_blocks(g.planes), kThreads, 0, st>>>(
        tptr<T>(dy), tptr<T>(x), tptr<T>(relu_y), fptr(mean), fptr(invstd), fptr(gamma),
        GradSums{fptr(sum_g), fptr(sum_gx), 1, true}, static_cast<float>(1.0 / count), g.planes,
        g.c, g.hw, tptr<T>(dx));
    MN_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace mn
