// CUDA bilinear resize of NCHW, or NHWC under channels-last activations (cuda/layout.cuh), float32
// or bfloat16 (interpolated in float32) with PyTorch's coordinate rules: with
// align_corners the corner pixels' centres line up (src = dst * (in - 1) / (out - 1)); without it
// pixel areas do (src = (dst + 0.5) * in / out - 0.5, clamped at 0). The backward scatters each
// output gradient into its four source pixels with atomicAdd.
#include "cuda/dtype.cuh"
#include "cuda/layout.cuh"

namespace mn {

namespace {

constexpr int kThreads = 256;

struct Dims {
  int64_t planes;
  int h, w, oh, ow;
  float scale_h, scale_w;
  bool align_corners;
  cuda::Layout layout;  // of both x and y
};

Dims dims_of(const Tensor& x, const Tensor& y, bool align_corners) {
  for (const Tensor* t : {&x, &y})
    MN_CHECK(t->size(2) <= INT32_MAX && t->size(3) <= INT32_MAX, "resize_bilinear: planes of ",
             shape_str(t->shape()), " are too large");
  Dims d{x.size(0) * x.size(1), static_cast<int>(x.size(2)), static_cast<int>(x.size(3)),
         static_cast<int>(y.size(2)), static_cast<int>(y.size(3)), 0.f, 0.f, align_corners,
         cuda::activation_layout(x.size(1))};
  auto scale = [&](int in, int out) {
    if (align_corners) return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.f;
    return static_cast<float>(in) / static_cast<float>(out);
  };
  d.scale_h = scale(d.h, d.oh);
  d.scale_w = scale(d.w, d.ow);
  return d;
}

// The two source taps of output coordinate `dst` along one axis and the weight of the second.
struct Taps {
  int i0, i1;
  float l1;
};

__device__ Taps taps(int dst, float scale, int in, bool align_corners) {
  // Rounded multiply and add (no FMA contraction): the same source coordinate as the CPU kernel,
  // bit for bit, so both pick the same taps.
  float src = align_corners ? __fmul_rn(scale, static_cast<float>(dst))
                            : __fadd_rn(__fmul_rn(scale, static_cast<float>(dst) + 0.5f), -0.5f);
  if (src < 0.f) src = 0.f;
  const int i0 = static_cast<int>(src);
  return {i0, i0 + (i0 < in - 1 ? 1 : 0), src - static_cast<float>(i0)};
}

using cuda::load;

// The offset in x of element (n, c, h, w), n and c those of q.
struct Source {
  const Dims& d;
  cuda::Pos q;  // n and c
  __device__ int64_t operator()(int h, int w) const {
    return cuda::offset(d.layout, q.n, q.c, static_cast<int64_t>(h) * d.w + w, static_cast<int64_t>(d.h) * d.w);
  }
};

// Output element i in memory order: its (n, c) and its taps.
struct Sample {
  cuda::Pos q;
  Taps th, tw;
};
__device__ Sample sample(const Dims& d, int64_t i) {
  const cuda::Pos q = cuda::locate(d.layout, i, static_cast<int64_t>(d.oh) * d.ow);
  const int ow = static_cast<int>(q.p % d.ow), oh = static_cast<int>(q.p / d.ow);
  return {q, taps(oh, d.scale_h, d.h, d.align_corners), taps(ow, d.scale_w, d.w, d.align_corners)};
}

template <class T>
__global__ void resize_forward_kernel(const T* __restrict__ x, Dims d, T* __restrict__ y) {
  const int64_t total = d.planes * d.oh * d.ow;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const auto [q, th, tw] = sample(d, i);
    const Source at{d, q};
    const float top = (1.f - tw.l1) * load(x[at(th.i0, tw.i0)]) + tw.l1 * load(x[at(th.i0, tw.i1)]);
    const float bottom = (1.f - tw.l1) * load(x[at(th.i1, tw.i0)]) + tw.l1 * load(x[at(th.i1, tw.i1)]);
    y[i] = cuda::store<T>((1.f - th.l1) * top + th.l1 * bottom);
  }
}

template <class T>
__global__ void resize_backward_kernel(const T* __restrict__ dy, Dims d, float* __restrict__ dx) {
  const int64_t total = d.planes * d.oh * d.ow;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const auto [q, th, tw] = sample(d, i);
    const Source at{d, q};
    const float g = load(dy[i]);
    atomicAdd(dx + at(th.i0, tw.i0), (1.f - th.l1) * (1.f - tw.l1) * g);
    atomicAdd(dx + at(th.i0, tw.i1), (1.f - th.l1) * tw.l1 * g);
    atomicAdd(dx + at(th.i1, tw.i0), th.l1 * (1.f - tw.l1) * g);
    atomicAdd(dx + at(th.i1, tw.i1), th.l1 * tw.l1 * g);
  }
}

}  // namespace

void CudaBackend::resize_bilinear_forward(const Tensor& x, const Tensor& y, bool align_corners) {
  cuda::require_dtype("resize_bilinear", x.dtype(), {&y});
  if (y.numel() == 0) return;
  const Dims d = dims_of(x, y, align_corners);
  cuda::dispatch_activation(x.dtype(), "resize_bilinear", [&](auto t) {
    using T = decltype(t);
    resize_forward_kernel<T><<<cuda::grid_for(y.numel(), kThreads), kThreads, 0, cuda::stream()>>>(
        static_cast<const T*>(x.data_ptr()), d, static_cast<T*>(y.data_ptr()));
    MN_CUDA_LAUNCH_CHECK();
  });
}

void CudaBackend::resize_bilinear_backward(const Tensor& dy, const Tensor& dx, bool align_corners) {
  cuda::require_dtype("resize_bilinear backward", dy.dtype(), {&dx});
  if (dx.numel() == 0) return;
  const Dims d = dims_of(dx, dy, align_corners);
  cuda::dispatch_activation(dy.dtype(), "resize_bilinear backward", [&](auto t) {
    using T = decltype(t);
    cuda::scatter_in_float(dx, [&](float* out) {
      if (dy.numel() == 0) return;
      resize_backward_kernel<T><<<cuda::grid_for(dy.numel(), kThreads), kThreads, 0, cuda::stream()>>>(
          static_cast<const T*>(dy.data_ptr()), d, out);
      MN_CUDA_LAUNCH_CHECK();
    });
  });
}

}  // namespace mn
