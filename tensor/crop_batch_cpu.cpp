// CPU crop_batch: one output row at a time, each pixel a table lookup of its source byte (padding
// reads byte 0 through the table, as the CPU loader pads the 8-bit image with zeros).
#include "tensor/cpu_backend.h"
#include "tensor/cpu_loops.h"

namespace mn {

void CpuBackend::crop_batch(const Tensor& images, const Tensor& params, const Tensor& table, PadMode mode,
                            const Tensor& out) {
  const int64_t B = out.size(0), C = out.size(1), S = out.size(2);
  const int64_t H = images.size(1), W = images.size(2);
  const uint8_t* src = images.data<uint8_t>();
  const int64_t* p = params.data<int64_t>();
  const float* lut = table.data<float>();
  float* dst = out.data<float>();
  // Source index of padded coordinate i, or -1 for a zero.
  auto source = [mode](int64_t i, int64_t n) -> int64_t {
    if (i >= 0 && i < n) return i;
    if (mode == PadMode::zero) return -1;
    return i < 0 ? -i : 2 * (n - 1) - i;
  };
#pragma omp parallel for schedule(static) if (B * C * S * S >= cpu::kParallelGrain)
  for (int64_t b = 0; b < B; ++b) {
    const int64_t* q = p + 4 * b;
    const uint8_t* image = src + q[0] * H * W * C;
    for (int64_t y = 0; y < S; ++y) {
      const int64_t sy = source(q[1] + y, H);
      for (int64_t x = 0; x < S; ++x) {
        const int64_t sx = source(q[2] + (q[3] ? S - 1 - x : x), W);
        for (int64_t c = 0; c < C; ++c)
          dst[((b * C + c) * S + y) * S + x] = lut[c * 256 + (sy < 0 || sx < 0 ? 0 : image[(sy * W + sx) * C + c])];
      }
    }
  }
}

}  // namespace mn
