// CUDA zero / reflect padding of NCHW, or NHWC under channels-last activations (cuda/layout.cuh),
// float32 or bfloat16 (reflect excludes the edge, as PyTorch;
// negative zero-padding crops). Forward gathers one output per thread; the zero-mode backward
// gathers too, the reflect backward scatters into the reflected source with atomicAdd (an input
// pixel near an edge receives from up to four outputs).
#include "cuda/dtype.cuh"
#include "cuda/layout.cuh"

namespace mn {

namespace {

constexpr int kThreads = 256;

struct Dims {
  int64_t planes;
  int h, w, oh, ow, left, top;
  cuda::Layout layout;  // of both x and y
  // Offsets of element (n, c, h, w) of x and of y.
  __device__ int64_t in(const cuda::Pos& q, int h_, int w_) const {
    return cuda::offset(layout, q.n, q.c, static_cast<int64_t>(h_) * w + w_, static_cast<int64_t>(h) * w);
  }
  __device__ int64_t out(const cuda::Pos& q, int h_, int w_) const {
    return cuda::offset(layout, q.n, q.c, static_cast<int64_t>(h_) * ow + w_, static_cast<int64_t>(oh) * ow);
  }
};

Dims dims_of(const Tensor& x, const Tensor& y, const Pad2d& pad) {
  for (const Tensor* t : {&x, &y})
    MN_CHECK(t->size(2) <= INT32_MAX && t->size(3) <= INT32_MAX, "pad2d: planes of ",
             shape_str(t->shape()), " are too large");
  return {x.size(0) * x.size(1), static_cast<int>(x.size(2)), static_cast<int>(x.size(3)),
          static_cast<int>(y.size(2)), static_cast<int>(y.size(3)), pad.left, pad.top,
          cuda::activation_layout(x.size(1))};
}

__device__ int reflect(int i, int n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

template <class T>
__global__ void pad_forward_kernel(const T* __restrict__ x, Dims d, bool reflect_mode,
                                   T* __restrict__ y) {
  const int64_t total = d.planes * d.oh * d.ow;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const cuda::Pos q = cuda::locate(d.layout, i, static_cast<int64_t>(d.oh) * d.ow);
    const int ow = static_cast<int>(q.p % d.ow), oh = static_cast<int>(q.p / d.ow);
    int h = oh - d.top, w = ow - d.left;
    if (reflect_mode) {
      h = reflect(h, d.h);
      w = reflect(w, d.w);
    } else if (h < 0 || h >= d.h || w < 0 || w >= d.w) {
      y[i] = cuda::store<T>(0.f);
      continue;
    }
    y[i] = x[d.in(q, h, w)];
  }
}

template <class T>
__global__ void pad_backward_zero_kernel(const T* __restrict__ dy, Dims d, T* __restrict__ dx) {
  const int64_t total = d.planes * d.h * d.w;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const cuda::Pos q = cuda::locate(d.layout, i, static_cast<int64_t>(d.h) * d.w);
    const int w = static_cast<int>(q.p % d.w), h = static_cast<int>(q.p / d.w);
    const int oh = h + d.top, ow = w + d.left;
    dx[i] = (oh >= 0 && oh < d.oh && ow >= 0 && ow < d.ow) ? dy[d.out(q, oh, ow)] : cuda::store<T>(0.f);
  }
}

template <class T>
__global__ void pad_backward_reflect_kernel(const T* __restrict__ dy, Dims d, float* __restrict__ dx) {
  const int64_t total = d.planes * d.oh * d.ow;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const cuda::Pos q = cuda::locate(d.layout, i, static_cast<int64_t>(d.oh) * d.ow);
    const int ow = static_cast<int>(q.p % d.ow), oh = static_cast<int>(q.p / d.ow);
    const int h = reflect(oh - d.top, d.h), w = reflect(ow - d.left, d.w);
    atomicAdd(dx + d.in(q, h, w), cuda::load(dy[i]));
  }
}

}  // namespace

void CudaBackend::pad2d_forward(const Tensor& x, const Tensor& y, const Pad2d& pad, PadMode mode) {
  cuda::require_dtype("pad2d", x.dtype(), {&y});
  if (y.numel() == 0) return;
  const Dims d = dims_of(x, y, pad);
  cuda::dispatch_activation(x.dtype(), "pad2d", [&](auto t) {
    using T = decltype(t);
    pad_forward_kernel<T><<<cuda::grid_for(y.numel(), kThreads), kThreads, 0, cuda::stream()>>>(
        static_cast<const T*>(x.data_ptr()), d, mode == PadMode::reflect, static_cast<T*>(y.data_ptr()));
    MN_CUDA_LAUNCH_CHECK();
  });
}

void CudaBackend::pad2d_backward(const Tensor& dy, const Tensor& dx, const Pad2d& pad, PadMode mode) {
  cuda::require_dtype("pad2d backward", dy.dtype(), {&dx});
  if (dx.numel() == 0) return;
  const Dims d = dims_of(dx, dy, pad);
  cuda::dispatch_activation(dy.dtype(), "pad2d backward", [&](auto t) {
    using T = decltype(t);
    const T* g = static_cast<const T*>(dy.data_ptr());
    if (mode == PadMode::zero) {
      pad_backward_zero_kernel<T><<<cuda::grid_for(dx.numel(), kThreads), kThreads, 0, cuda::stream()>>>(
          g, d, static_cast<T*>(dx.data_ptr()));
      MN_CUDA_LAUNCH_CHECK();
      return;
    }
    cuda::scatter_in_float(dx, [&](float* out) {
      if (dy.numel() == 0) return;
      pad_backward_reflect_kernel<T><<<cuda::grid_for(dy.numel(), kThreads), kThreads, 0, cuda::stream()>>>(
          g, d, out);
      MN_CUDA_LAUNCH_CHECK();
    });
  });
}

}  // namespace mn
