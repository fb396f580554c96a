// CPU pooling on contiguous NCHW, one (image, channel) plane per OpenMP iteration (channels-last
// operands through NCHW copies, cpu::via_nchw).
#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/cpu_backend.h"
#include "tensor/cpu_loops.h"

namespace mn {
namespace {

struct Planes {
  int64_t count, H, W, Ho, Wo;  // count = N * C
  Planes(const Tensor& x, const Tensor& y)
      : count(x.size(0) * x.size(1)), H(x.size(2)), W(x.size(3)), Ho(y.size(2)), Wo(y.size(3)) {}
  bool parallel() const { return count * H * W >= cpu::kParallelGrain; }
};

// Window of output index o along one axis, clipped to the input [0, size).
struct Window {
  int64_t begin, end;
  Window(int64_t o, int64_t kernel, int64_t stride, int64_t pad, int64_t size)
      : begin(std::max<int64_t>(o * stride - pad, 0)),
        end(std::min<int64_t>(o * stride - pad + kernel, size)) {}
};

template <class T>
void maxpool_forward(const Tensor& xt, const Tensor& yt, const Tensor& it, const Pool2dArgs& a) {
  const Planes p(xt, yt);
  const T* x = xt.data<T>();
  T* y = yt.data<T>();
  int64_t* idx = it.data<int64_t>();
#pragma omp parallel for schedule(static) if (p.parallel())
  for (int64_t plane = 0; plane < p.count; ++plane) {
    const T* in = x + plane * p.H * p.W;
    for (int64_t oh = 0; oh < p.Ho; ++oh) {
      const Window wh(oh, a.kernel_h, a.stride_h, a.pad_h, p.H);
      for (int64_t ow = 0; ow < p.Wo; ++ow) {
        const Window ww(ow, a.kernel_w, a.stride_w, a.pad_w, p.W);
        // PyTorch's rule: the first maximum in scan order wins, NaN beats everything.
        T best = -std::numeric_limits<T>::infinity();
        int64_t best_at = wh.begin * p.W + ww.begin;
        for (int64_t ih = wh.begin; ih < wh.end; ++ih)
          for (int64_t iw = ww.begin; iw < ww.end; ++iw) {
            const T v = in[ih * p.W + iw];
            if (v > best || std::isnan(v)) {
              best = v;
              best_at = ih * p.W + iw;
            }
          }
        const int64_t o = (plane * p.Ho + oh) * p.Wo + ow;
        y[o] = best;
        idx[o] = best_at;
      }
    }
  }
}

template <class T>
void maxpool_backward(const Tensor& dyt, const Tensor& it, const Tensor& dxt) {
  const Planes p(dxt, dyt);
  const T* dy = dyt.data<T>();
  const int64_t* idx = it.data<int64_t>();
  T* dx = dxt.data<T>();
#pragma omp parallel for schedule(static) if (p.parallel())
  for (int64_t plane = 0; plane < p.count; ++plane) {
    T* out = dx + plane * p.H * p.W;
    std::fill_n(out, p.H * p.W, T(0));
    const int64_t begin = plane * p.Ho * p.Wo, end = begin + p.Ho * p.Wo;
    for (int64_t o = begin; o < end; ++o) out[idx[o]] += dy[o];
  }
}

// count_include_pad: every window divides by the full kernel area (with ceil_mode off no window
// reaches past the padding).
template <class T>
void avgpool_forward(const Tensor& xt, const Tensor& yt, const Pool2dArgs& a) {
  const Planes p(xt, yt);
  const T* x = xt.data<T>();
  T* y = yt.data<T>();
  const double inv_area = 1.0 / (a.kernel_h * a.kernel_w);
#pragma omp parallel for schedule(static) if (p.parallel())
  for (int64_t plane = 0; plane < p.count; ++plane) {
    const T* in = x + plane * p.H * p.W;
    for (int64_t oh = 0; oh < p.Ho; ++oh) {
      const Window wh(oh, a.kernel_h, a.stride_h, a.pad_h, p.H);
      for (int64_t ow = 0; ow < p.Wo; ++ow) {
        const Window ww(ow, a.kernel_w, a.stride_w, a.pad_w, p.W);
        double sum = 0;
        for (int64_t ih = wh.begin; ih < wh.end; ++ih) {
#pragma omp simd reduction(+ : sum)
          for (int64_t iw = ww.begin; iw < ww.end; ++iw) sum += in[ih * p.W + iw];
        }
        y[(plane * p.Ho + oh) * p.Wo + ow] = static_cast<T>(sum * inv_area);
      }
    }
  }
}

template <class T>
void avgpool_backward(const Tensor& dyt, const Tensor& dxt, const Pool2dArgs& a) {
  const Planes p(dxt, dyt);
  const T* dy = dyt.data<T>();
  T* dx = dxt.data<T>();
  const T inv_area = static_cast<T>(1.0 / (a.kernel_h * a.kernel_w));
#pragma omp parallel for schedule(static) if (p.parallel())
  for (int64_t plane = 0; plane < p.count; ++plane) {
    T* out = dx + plane * p.H * p.W;
    std::fill_n(out, p.H * p.W, T(0));
    for (int64_t oh = 0; oh < p.Ho; ++oh) {
      const Window wh(oh, a.kernel_h, a.stride_h, a.pad_h, p.H);
      for (int64_t ow = 0; ow < p.Wo; ++ow) {
        const Window ww(ow, a.kernel_w, a.stride_w, a.pad_w, p.W);
        const T g = dy[(plane * p.Ho + oh) * p.Wo + ow] * inv_area;
        for (int64_t ih = wh.begin; ih < wh.end; ++ih)
          for (int64_t iw = ww.begin; iw < ww.end; ++iw) out[ih * p.W + iw] += g;
      }
    }
  }
}

// PyTorch's adaptive bins: output i averages input [floor(i * in / out), ceil((i + 1) * in / out)).
struct Bin {
  int64_t begin, end;
  Bin(int64_t i, int64_t in, int64_t out) : begin(i * in / out), end(((i + 1) * in + out - 1) / out) {}
};

template <class T>
void adaptive_forward(const Tensor& xt, const Tensor& yt) {
  const Planes p(xt, yt);
  const T* x = xt.data<T>();
  T* y = yt.data<T>();
#pragma omp parallel for schedule(static) if (p.parallel())
  for (int64_t plane = 0; plane < p.count; ++plane) {
    const T* in = x + plane * p.H * p.W;
    for (int64_t oh = 0; oh < p.Ho; ++oh) {
      const Bin bh(oh, p.H, p.Ho);
      for (int64_t ow = 0; ow < p.Wo; ++ow) {
        const Bin bw(ow, p.W, p.Wo);
        // Bins spanning whole rows (global pooling) are one contiguous run.
        const bool full_rows = bw.begin == 0 && bw.end == p.W;
        const int64_t runs = full_rows ? 1 : bh.end - bh.begin;
        const int64_t run_len = full_rows ? (bh.end - bh.begin) * p.W : bw.end - bw.begin;
        double sum = 0;
        for (int64_t r = 0; r < runs; ++r) {
          const T* run = in + (bh.begin + r) * p.W + bw.begin;
#pragma omp simd reduction(+ : sum)
          for (int64_t i = 0; i < run_len; ++i) sum += run[i];
        }
        y[(plane * p.Ho + oh) * p.Wo + ow] =
            static_cast<T>(sum / double((bh.end - bh.begin) * (bw.end - bw.begin)));
      }
    }
  }
}

template <class T>
void adaptive_backward(const Tensor& dyt, const Tensor& dxt) {
  const Planes p(dxt, dyt);
  const T* dy = dyt.data<T>();
  T* dx = dxt.data<T>();
#pragma omp parallel for schedule(static) if (p.parallel())
  for (int64_t plane = 0; plane < p.count; ++plane) {
    T* out = dx + plane * p.H * p.W;
    std::fill_n(out, p.H * p.W, T(0));
    for (int64_t oh = 0; oh < p.Ho; ++oh) {
      const Bin bh(oh, p.H, p.Ho);
      for (int64_t ow = 0; ow < p.Wo; ++ow) {
        const Bin bw(ow, p.W, p.Wo);
        const T g = static_cast<T>(dy[(plane * p.Ho + oh) * p.Wo + ow] /
                                   double((bh.end - bh.begin) * (bw.end - bw.begin)));
        for (int64_t ih = bh.begin; ih < bh.end; ++ih)
          for (int64_t iw = bw.begin; iw < bw.end; ++iw) out[ih * p.W + iw] += g;
      }
    }
  }
}

}  // namespace

void CpuBackend::maxpool2d_forward(const Tensor& x, const Tensor& y, const Tensor& indices,
                                   const Pool2dArgs& args) {
  cpu::via_nchw({x}, {y, indices}, [&](const auto& in, const auto& out) {
    cpu::dispatch_float(x.dtype(), "max_pool2d",
                        [&](auto t) { maxpool_forward<decltype(t)>(in[0], out[0], out[1], args); });
  });
}
void CpuBackend::maxpool2d_backward(const Tensor& dy, const Tensor& indices, const Tensor& dx) {
  cpu::via_nchw({dy, indices}, {dx}, [&](const auto& in, const auto& out) {
    cpu::dispatch_float(dy.dtype(), "max_pool2d backward",
                        [&](auto t) { maxpool_backward<decltype(t)>(in[0], in[1], out[0]); });
  });
}
void CpuBackend::avgpool2d_forward(const Tensor& x, const Tensor& y, const Pool2dArgs& args) {
  cpu::via_nchw({x}, {y}, [&](const auto& in, const auto& out) {
    cpu::dispatch_float(x.dtype(), "avg_pool2d",
                        [&](auto t) { avgpool_forward<decltype(t)>(in[0], out[0], args); });
  });
}
void CpuBackend::avgpool2d_backward(const Tensor& dy, const Tensor& dx, const Pool2dArgs& args) {
  cpu::via_nchw({dy}, {dx}, [&](const auto& in, const auto& out) {
    cpu::dispatch_float(dy.dtype(), "avg_pool2d backward",
                        [&](auto t) { avgpool_backward<decltype(t)>(in[0], out[0], args); });
  });
}
void CpuBackend::adaptive_avgpool2d_forward(const Tensor& x, const Tensor& y) {
  cpu::via_nchw({x}, {y}, [&](const auto& in, const auto& out) {
    cpu::dispatch_float(x.dtype(), "adaptive_avg_pool2d",
                        [&](auto t) { adaptive_forward<decltype(t)>(in[0], out[0]); });
  });
}
void CpuBackend::adaptive_avgpool2d_backward(const Tensor& dy, const Tensor& dx) {
  cpu::via_nchw({dy}, {dx}, [&](const auto& in, const auto& out) {
    cpu::dispatch_float(dy.dtype(), "adaptive_avg_pool2d backward",
                        [&](auto t) { adaptive_backward<decltype(t)>(in[0], out[0]); });
  });
}

}  // namespace mn
