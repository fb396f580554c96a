// CPU bilinear resize with PyTorch's upsample_bilinear2d coordinates (output size given, no scale
// factor), computed in the tensor's own precision as PyTorch does:
//   align_corners: src = dst * (in - 1) / (out - 1)          (0 when out == 1)
//   otherwise:     src = max((dst + 0.5) * in / out - 0.5, 0)
// then taps floor(src) and floor(src) + 1 (clamped to in - 1) with weights 1 - frac, frac.
#include <algorithm>
#include <vector>

#include "tensor/cpu_backend.h"
#include "tensor/cpu_loops.h"

namespace mn {
namespace {

template <class T>
struct Taps {
  std::vector<int64_t> i0, i1;
  std::vector<T> w0, w1;
  Taps(int64_t in, int64_t out, bool align_corners) : i0(out), i1(out), w0(out), w1(out) {
    const T scale = align_corners ? (out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0))
                                  : static_cast<T>(in) / static_cast<T>(out);
    for (int64_t d = 0; d < out; ++d) {
      const T src = align_corners ? scale * static_cast<T>(d)
                                  : std::max(scale * (static_cast<T>(d) + T(0.5)) - T(0.5), T(0));
      const int64_t lo = std::min(static_cast<int64_t>(src), in - 1);
      i0[d] = lo;
      i1[d] = lo + (lo < in - 1 ? 1 : 0);
      w1[d] = src - static_cast<T>(lo);
      w0[d] = T(1) - w1[d];
    }
  }
};

template <class T>
void forward(const Tensor& xt, const Tensor& yt, bool align_corners) {
  const int64_t planes = xt.size(0) * xt.size(1), H = xt.size(2), W = xt.size(3);
  const int64_t Ho = yt.size(2), Wo = yt.size(3);
  const Taps<T> th(H, Ho, align_corners), tw(W, Wo, align_corners);
  const T* x = xt.data<T>();
  T* y = yt.data<T>();
#pragma omp parallel for schedule(static) if (planes * Ho * Wo >= cpu::kParallelGrain)
  for (int64_t p = 0; p < planes; ++p) {
    const T* in = x + p * H * W;
    T* out = y + p * Ho * Wo;
    for (int64_t oh = 0; oh < Ho; ++oh) {
      const T* r0 = in + th.i0[oh] * W;
      const T* r1 = in + th.i1[oh] * W;
      const T a0 = th.w0[oh], a1 = th.w1[oh];
      for (int64_t ow = 0; ow < Wo; ++ow) {
        const int64_t c0 = tw.i0[ow], c1 = tw.i1[ow];
        out[oh * Wo + ow] = a0 * (tw.w0[ow] * r0[c0] + tw.w1[ow] * r0[c1]) +
                            a1 * (tw.w0[ow] * r1[c0] + tw.w1[ow] * r1[c1]);
      }
    }
  }
}

template <class T>
void backward(const Tensor& dyt, const Tensor& dxt, bool align_corners) {
  const int64_t planes = dxt.size(0) * dxt.size(1), H = dxt.size(2), W = dxt.size(3);
  const int64_t Ho = dyt.size(2), Wo = dyt.size(3);
  const Taps<T> th(H, Ho, align_corners), tw(W, Wo, align_corners);
  const T* dy = dyt.data<T>();
  T* dx = dxt.data<T>();
#pragma omp parallel for schedule(static) if (planes * Ho * Wo >= cpu::kParallelGrain)
  for (int64_t p = 0; p < planes; ++p) {
    const T* g = dy + p * Ho * Wo;
    T* out = dx + p * H * W;
    std::fill_n(out, H * W, T(0));
    for (int64_t oh = 0; oh < Ho; ++oh) {
      T* r0 = out + th.i0[oh] * W;
      T* r1 = out + th.i1[oh] * W;
      const T a0 = th.w0[oh], a1 = th.w1[oh];
      for (int64_t ow = 0; ow < Wo; ++ow) {
        const T v = g[oh * Wo + ow];
        const int64_t c0 = tw.i0[ow], c1 = tw.i1[ow];
        r0[c0] += a0 * tw.w0[ow] * v;
        r0[c1] += a0 * tw.w1[ow] * v;
        r1[c0] += a1 * tw.w0[ow] * v;
        r1[c1] += a1 * tw.w1[ow] * v;
      }
    }
  }
}

}  // namespace

void CpuBackend::resize_bilinear_forward(const Tensor& x, const Tensor& y, bool align_corners) {
  cpu::via_nchw({x}, {y}, [&](const auto& in, const auto& out) {
    cpu::dispatch_float(x.dtype(), "resize_bilinear",
                        [&](auto t) { forward<decltype(t)>(in[0], out[0], align_corners); });
  });
}

void CpuBackend::resize_bilinear_backward(const Tensor& dy, const Tensor& dx, bool align_corners) {
  cpu::via_nchw({dy}, {dx}, [&](const auto& in, const auto& out) {
    cpu::dispatch_float(dy.dtype(), "resize_bilinear backward",
                        [&](auto t) { backward<decltype(t)>(in[0], out[0], align_corners); });
  });
}

}  // namespace mn
