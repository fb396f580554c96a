// CUDA crop_batch: one thread per output pixel and channel reads its source byte (or byte 0 in zero
// padding) and looks it up in the channel's table, so the result is the CPU's bit for bit. The
// window comes from the host's draws, which lie inside the padding; indices are clamped anyway so
// a bad row cannot read outside the dataset.
#include "cuda/common.h"

namespace mn {
namespace {

constexpr int kThreads = 256;

struct Dims {
  int64_t n, total;
  int h, w, c, s;
  bool reflect;
};

__device__ int source(int i, int n, bool reflect) {
  if (i >= 0 && i < n) return i;
  if (!reflect) return -1;
  i = i < 0 ? -i : 2 * (n - 1) - i;
  return min(max(i, 0), n - 1);
}

__global__ void crop_batch_kernel(const uint8_t* __restrict__ images, const int64_t* __restrict__ params,
                                  const float* __restrict__ table, Dims d, float* __restrict__ out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < d.total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int x = static_cast<int>(i % d.s), y = static_cast<int>((i / d.s) % d.s);
    const int c = static_cast<int>((i / (static_cast<int64_t>(d.s) * d.s)) % d.c);
    const int64_t b = i / (static_cast<int64_t>(d.s) * d.s * d.c);
    const int64_t* q = params + 4 * b;
    const int64_t image = min(max(q[0], int64_t(0)), d.n - 1);
    const int sy = source(static_cast<int>(q[1]) + y, d.h, d.reflect);
    const int sx = source(static_cast<int>(q[2]) + (q[3] ? d.s - 1 - x : x), d.w, d.reflect);
    const int v = sy < 0 || sx < 0 ? 0 : images[((image * d.h + sy) * d.w + sx) * d.c + c];
    out[i] = table[c * 256 + v];
  }
}

}  // namespace

void CudaBackend::crop_batch(const Tensor& images, const Tensor& params, const Tensor& table, PadMode mode,
                             const Tensor& out) {
  const Dims d{images.size(0), out.numel(), static_cast<int>(images.size(1)), static_cast<int>(images.size(2)),
               static_cast<int>(images.size(3)), static_cast<int>(out.size(2)), mode == PadMode::reflect};
  crop_batch_kernel<<<cuda::grid_for(d.total, kThreads), kThreads, 0, cuda::stream()>>>(
      images.data<uint8_t>(), params.data<int64_t>(), table.data<float>(), d, out.data<float>());
  MN_CUDA_LAUNCH_CHECK();
}

}  // namespace mn
