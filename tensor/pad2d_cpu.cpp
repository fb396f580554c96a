// CPU zero / reflect padding: each output row and column maps to one input row and column (or to
// none, for zero padding); the backward sums the output gradient back through the same map.
#include <algorithm>
#include <vector>

#include "tensor/cpu_backend.h"
#include "tensor/cpu_loops.h"

namespace mn {
namespace {

// Source index of each of the size + before + after output positions; -1 reads a zero.
std::vector<int64_t> source_map(int64_t size, int64_t before, int64_t after, PadMode mode) {
  std::vector<int64_t> map(size + before + after);
  for (int64_t o = 0; o < static_cast<int64_t>(map.size()); ++o) {
    int64_t i = o - before;
    if (i < 0 || i >= size) {
      if (mode == PadMode::zero)
        i = -1;
      else
        i = i < 0 ? -i : 2 * (size - 1) - i;  // mirror about the edge pixel, edge not repeated
    }
    map[o] = i;
  }
  return map;
}

struct PadGeometry {
  int64_t planes, H, W, Ho, Wo;
  std::vector<int64_t> rows, cols;
  PadGeometry(const Tensor& x, const Tensor& y, const Pad2d& p, PadMode mode)
      : planes(x.size(0) * x.size(1)), H(x.size(2)), W(x.size(3)), Ho(y.size(2)), Wo(y.size(3)),
        rows(source_map(H, p.top, p.bottom, mode)), cols(source_map(W, p.left, p.right, mode)) {}
  bool parallel() const { return planes * Ho * Wo >= cpu::kParallelGrain; }
};

template <class T>
void forward(const Tensor& xt, const Tensor& yt, const Pad2d& pad, PadMode mode) {
  const PadGeometry g(xt, yt, pad, mode);
  const T* x = xt.data<T>();
  T* y = yt.data<T>();
#pragma omp parallel for schedule(static) if (g.parallel())
  for (int64_t p = 0; p < g.planes; ++p) {
    for (int64_t oh = 0; oh < g.Ho; ++oh) {
      T* out = y + (p * g.Ho + oh) * g.Wo;
      if (g.rows[oh] < 0) {
        std::fill_n(out, g.Wo, T(0));
        continue;
      }
      const T* in = x + (p * g.H + g.rows[oh]) * g.W;
      for (int64_t ow = 0; ow < g.Wo; ++ow) out[ow] = g.cols[ow] < 0 ? T(0) : in[g.cols[ow]];
    }
  }
}

template <class T>
void backward(const Tensor& dyt, const Tensor& dxt, const Pad2d& pad, PadMode mode) {
  const PadGeometry g(dxt, dyt, pad, mode);
  const T* dy = dyt.data<T>();
  T* dx = dxt.data<T>();
#pragma omp parallel for schedule(static) if (g.parallel())
  for (int64_t p = 0; p < g.planes; ++p) {
    std::fill_n(dx + p * g.H * g.W, g.H * g.W, T(0));
    for (int64_t oh = 0; oh < g.Ho; ++oh) {
      if (g.rows[oh] < 0) continue;
      const T* in = dy + (p * g.Ho + oh) * g.Wo;
      T* out = dx + (p * g.H + g.rows[oh]) * g.W;
      for (int64_t ow = 0; ow < g.Wo; ++ow)
        if (g.cols[ow] >= 0) out[g.cols[ow]] += in[ow];
    }
  }
}

}  // namespace

void CpuBackend::pad2d_forward(const Tensor& x, const Tensor& y, const Pad2d& pad, PadMode mode) {
  cpu::via_nchw({x}, {y}, [&](const auto& in, const auto& out) {
    cpu::dispatch_all(x.dtype(), "pad2d", [&](auto t) { forward<decltype(t)>(in[0], out[0], pad, mode); });
  });
}

void CpuBackend::pad2d_backward(const Tensor& dy, const Tensor& dx, const Pad2d& pad,
                                PadMode mode) {
  cpu::via_nchw({dy}, {dx}, [&](const auto& in, const auto& out) {
    cpu::dispatch_float(dy.dtype(), "pad2d backward",
                        [&](auto t) { backward<decltype(t)>(in[0], out[0], pad, mode); });
  });
}

}  // namespace mn
