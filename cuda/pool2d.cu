// CUDA pooling over NCHW, or NHWC under channels-last activations (cuda/layout.cuh), float32 or
// bfloat16 (sums and averages in float32): max (with i64 argmax indices h * W + w within each plane,
// as PyTorch: padding never wins, ties keep the first, NaN wins), average (padding counted,
// PyTorch's default) and adaptive average (bins [floor(i * H / oh), ceil((i + 1) * H / oh))).
// Backward passes gather per input element where the windows are computable (average, adaptive
// average) so they need no atomics; max pooling scatters through its indices with atomicAdd.
#include <cfloat>

#include "cuda/dtype.cuh"
#include "cuda/layout.cuh"

namespace mn {

namespace {

constexpr int kThreads = 256;

using cuda::Layout;
using cuda::locate;
using cuda::offset;
using cuda::Pos;

struct Dims {
  int64_t planes;
  int h, w, oh, ow;
  Layout layout;  // of both x and y
  __host__ __device__ int64_t in_plane() const { return static_cast<int64_t>(h) * w; }
  __host__ __device__ int64_t out_plane() const { return static_cast<int64_t>(oh) * ow; }
};

Dims dims_of(const Tensor& x, const Tensor& y) {
  for (const Tensor* t : {&x, &y})
    MN_CHECK(t->size(2) <= INT32_MAX && t->size(3) <= INT32_MAX, "pool2d: planes of ",
             shape_str(t->shape()), " are too large");
  return {x.size(0) * x.size(1), static_cast<int>(x.size(2)), static_cast<int>(x.size(3)),
          static_cast<int>(y.size(2)), static_cast<int>(y.size(3)), cuda::activation_layout(x.size(1))};
}

using cuda::load;
using cuda::store;

template <class T>
const T* cp(const Tensor& t) { return static_cast<const T*>(t.data_ptr()); }
template <class T>
T* mp(const Tensor& t) { return static_cast<T*>(t.data_ptr()); }

template <class T>
__global__ void maxpool_forward_kernel(const T* __restrict__ x, Dims d, Pool2dArgs a,
                                       T* __restrict__ y, int64_t* __restrict__ indices) {
  const int64_t total = d.planes * d.oh * d.ow;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Pos q = locate(d.layout, i, d.out_plane());
    const int ow = static_cast<int>(q.p % d.ow), oh = static_cast<int>(q.p / d.ow);
    const int h0 = oh * a.stride_h - a.pad_h, w0 = ow * a.stride_w - a.pad_w;
    const int hs = max(h0, 0), ws = max(w0, 0);
    const int he = min(h0 + a.kernel_h, d.h), we = min(w0 + a.kernel_w, d.w);
    float best = -INFINITY;
    int64_t best_at = static_cast<int64_t>(hs) * d.w + ws;
    for (int h = hs; h < he; ++h)
      for (int w = ws; w < we; ++w) {
        const float v = load(x[offset(d.layout, q.n, q.c, static_cast<int64_t>(h) * d.w + w, d.in_plane())]);
        if (v > best || isnan(v)) {
          best = v;
          best_at = static_cast<int64_t>(h) * d.w + w;
        }
      }
    y[i] = store<T>(best);  // exact: best is one of the inputs
    indices[i] = best_at;
  }
}

template <class T>
__global__ void maxpool_backward_kernel(const T* __restrict__ dy, const int64_t* __restrict__ indices,
                                        Dims d, float* __restrict__ dx) {
  const int64_t total = d.planes * d.oh * d.ow;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Pos q = locate(d.layout, i, d.out_plane());
    atomicAdd(dx + offset(d.layout, q.n, q.c, indices[i], d.in_plane()), load(dy[i]));
  }
}

// Window of output (oh, ow): rows [h0, h0 + kh) clipped to the padded input; the divisor counts
// padding (PyTorch's count_include_pad = True).
__device__ int avg_divisor(int oh, int ow, const Dims& d, const Pool2dArgs& a) {
  const int h0 = oh * a.stride_h - a.pad_h, w0 = ow * a.stride_w - a.pad_w;
  const int he = min(h0 + a.kernel_h, d.h + a.pad_h), we = min(w0 + a.kernel_w, d.w + a.pad_w);
  return (he - h0) * (we - w0);
}

template <class T>
__global__ void avgpool_forward_kernel(const T* __restrict__ x, Dims d, Pool2dArgs a,
                                       T* __restrict__ y) {
  const int64_t total = d.planes * d.oh * d.ow;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Pos q = locate(d.layout, i, d.out_plane());
    const int ow = static_cast<int>(q.p % d.ow), oh = static_cast<int>(q.p / d.ow);
    const int h0 = oh * a.stride_h - a.pad_h, w0 = ow * a.stride_w - a.pad_w;
    const int hs = max(h0, 0), ws = max(w0, 0);
    const int he = min(h0 + a.kernel_h, d.h), we = min(w0 + a.kernel_w, d.w);
    float s = 0.f;
    for (int h = hs; h < he; ++h)
      for (int w = ws; w < we; ++w)
        s += load(x[offset(d.layout, q.n, q.c, static_cast<int64_t>(h) * d.w + w, d.in_plane())]);
    y[i] = store<T>(s / static_cast<float>(avg_divisor(oh, ow, d, a)));
  }
}

// Per input element: the outputs whose windows cover it, oh in [ceil((h + ph - kh + 1) / sh),
// floor((h + ph) / sh)].
template <class T>
__global__ void avgpool_backward_kernel(const T* __restrict__ dy, Dims d, Pool2dArgs a,
                                        T* __restrict__ dx) {
  const int64_t total = d.planes * d.h * d.w;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Pos q = locate(d.layout, i, d.in_plane());
    const int w = static_cast<int>(q.p % d.w), h = static_cast<int>(q.p / d.w);
    const int hp = h + a.pad_h, wp = w + a.pad_w;
    const int oh0 = hp < a.kernel_h ? 0 : (hp - a.kernel_h) / a.stride_h + 1;
    const int ow0 = wp < a.kernel_w ? 0 : (wp - a.kernel_w) / a.stride_w + 1;
    const int oh1 = min(hp / a.stride_h, d.oh - 1), ow1 = min(wp / a.stride_w, d.ow - 1);
    float s = 0.f;
    for (int oh = oh0; oh <= oh1; ++oh)
      for (int ow = ow0; ow <= ow1; ++ow)
        s += load(dy[offset(d.layout, q.n, q.c, static_cast<int64_t>(oh) * d.ow + ow, d.out_plane())]) /
             static_cast<float>(avg_divisor(oh, ow, d, a));
    dx[i] = store<T>(s);
  }
}

__device__ int bin_start(int i, int in, int out) { return static_cast<int>((static_cast<int64_t>(i) * in) / out); }
__device__ int bin_end(int i, int in, int out) {
  return static_cast<int>((static_cast<int64_t>(i + 1) * in + out - 1) / out);
}

// One warp per output value (global pooling has one output per plane and many inputs).
template <class T>
__global__ void adaptive_forward_kernel(const T* __restrict__ x, Dims d, T* __restrict__ y) {
  const int64_t total = d.planes * d.oh * d.ow;
  const int64_t i = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (i >= total) return;
  const Pos q = locate(d.layout, i, d.out_plane());
  const int ow = static_cast<int>(q.p % d.ow), oh = static_cast<int>(q.p / d.ow);
  const int hs = bin_start(oh, d.h, d.oh), he = bin_end(oh, d.h, d.oh);
  const int ws = bin_start(ow, d.w, d.ow), we = bin_end(ow, d.w, d.ow);
  const int bw = we - ws, n = (he - hs) * bw;
  float s = 0.f;
  for (int j = lane; j < n; j += 32)
    s += load(x[offset(d.layout, q.n, q.c, static_cast<int64_t>(hs + j / bw) * d.w + ws + j % bw, d.in_plane())]);
  for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
  if (lane == 0) y[i] = store<T>(s / static_cast<float>(n));
}

template <class T>
__global__ void adaptive_backward_kernel(const T* __restrict__ dy, Dims d, T* __restrict__ dx) {
  const int64_t total = d.planes * d.h * d.w;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Pos q = locate(d.layout, i, d.in_plane());
    const int w = static_cast<int>(q.p % d.w), h = static_cast<int>(q.p / d.w);
    float s = 0.f;
    for (int oh = 0; oh < d.oh; ++oh) {
      const int hs = bin_start(oh, d.h, d.oh), he = bin_end(oh, d.h, d.oh);
      if (h < hs || h >= he) continue;
      for (int ow = 0; ow < d.ow; ++ow) {
        const int ws = bin_start(ow, d.w, d.ow), we = bin_end(ow, d.w, d.ow);
        if (w < ws || w >= we) continue;
        s += load(dy[offset(d.layout, q.n, q.c, static_cast<int64_t>(oh) * d.ow + ow, d.out_plane())]) /
             static_cast<float>((he - hs) * (we - ws));
      }
    }
    dx[i] = store<T>(s);
  }
}

}  // namespace

void CudaBackend::maxpool2d_forward(const Tensor& x, const Tensor& y, const Tensor& indices,
                                    const Pool2dArgs& args) {
  cuda::require_dtype("maxpool2d", x.dtype(), {&y});
  const Dims d = dims_of(x, y);
  if (y.numel() == 0) return;
  cuda::dispatch_activation(x.dtype(), "maxpool2d", [&](auto t) {
    using T = decltype(t);
    maxpool_forward_kernel<T><<<cuda::grid_for(y.numel(), kThreads), kThreads, 0, cuda::stream()>>>(
        cp<T>(x), d, args, mp<T>(y), static_cast<int64_t*>(indices.data_ptr()));
    MN_CUDA_LAUNCH_CHECK();
  });
}

void CudaBackend::maxpool2d_backward(const Tensor& dy, const Tensor& indices, const Tensor& dx) {
  cuda::require_dtype("maxpool2d backward", dy.dtype(), {&dx});
  const Dims d = dims_of(dx, dy);
  if (dx.numel() == 0) return;
  cuda::dispatch_activation(dy.dtype(), "maxpool2d backward", [&](auto t) {
    using T = decltype(t);
    cuda::scatter_in_float(dx, [&](float* out) {
      if (dy.numel() == 0) return;
      maxpool_backward_kernel<T><<<cuda::grid_for(dy.numel(), kThreads), kThreads, 0, cuda::stream()>>>(
          cp<T>(dy), static_cast<const int64_t*>(indices.data_ptr()), d, out);
      MN_CUDA_LAUNCH_CHECK();
    });
  });
}

void CudaBackend::avgpool2d_forward(const Tensor& x, const Tensor& y, const Pool2dArgs& args) {
  cuda::require_dtype("avgpool2d", x.dtype(), {&y});
  const Dims d = dims_of(x, y);
  if (y.numel() == 0) return;
  cuda::dispatch_activation(x.dtype(), "avgpool2d", [&](auto t) {
    using T = decltype(t);
    avgpool_forward_kernel<T><<<cuda::grid_for(y.numel(), kThreads), kThreads, 0, cuda::stream()>>>(
        cp<T>(x), d, args, mp<T>(y));
    MN_CUDA_LAUNCH_CHECK();
  });
}

void CudaBackend::avgpool2d_backward(const Tensor& dy, const Tensor& dx, const Pool2dArgs& args) {
  cuda::require_dtype("avgpool2d backward", dy.dtype(), {&dx});
  const Dims d = dims_of(dx, dy);
  if (dx.numel() == 0) return;
  cuda::dispatch_activation(dy.dtype(), "avgpool2d backward", [&](auto t) {
    using T = decltype(t);
    avgpool_backward_kernel<T><<<cuda::grid_for(dx.numel(), kThreads), kThreads, 0, cuda::stream()>>>(
        cp<T>(dy), d, args, mp<T>(dx));
    MN_CUDA_LAUNCH_CHECK();
  });
}

void CudaBackend::adaptive_avgpool2d_forward(const Tensor& x, const Tensor& y) {
  cuda::require_dtype("adaptive_avgpool2d", x.dtype(), {&y});
  const Dims d = dims_of(x, y);
  if (y.numel() == 0) return;
  cuda::dispatch_activation(x.dtype(), "adaptive_avgpool2d", [&](auto t) {
    using T = decltype(t);
    adaptive_forward_kernel<T><<<cuda::grid_for(y.numel() * 32, kThreads, INT32_MAX), kThreads, 0,
                                 cuda::stream()>>>(cp<T>(x), d, mp<T>(y));
    MN_CUDA_LAUNCH_CHECK();
  });
}

void CudaBackend::adaptive_avgpool2d_backward(const Tensor& dy, const Tensor& dx) {
  cuda::require_dtype("adaptive_avgpool2d backward", dy.dtype(), {&dx});
  const Dims d = dims_of(dx, dy);
  if (dx.numel() == 0) return;
  cuda::dispatch_activation(dy.dtype(), "adaptive_avgpool2d backward", [&](auto t) {
    using T = decltype(t);
    adaptive_backward_kernel<T><<<cuda::grid_for(dx.numel(), kThreads), kThreads, 0, cuda::stream()>>>(
        cp<T>(dy), d, mp<T>(dx));
    MN_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace mn
