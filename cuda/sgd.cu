// The fused CUDA SGD step (PyTorch's rule: g += wd * p; buf = g on the first step, else
// buf = momentum * buf + (1 - dampening) * g; g = nesterov ? g + momentum * buf : buf; p -= lr * g)
// over every parameter in a few launches: up to kMaxTensors parameters travel by value in the
// kernel's arguments, each split into chunks of kChunk values, one block per chunk.
#include <algorithm>

#include "cuda/common.h"

namespace mn {

namespace {

constexpr int kMaxTensors = 64;
constexpr int64_t kChunk = 16384;
constexpr int kThreads = 256;

struct SgdBatch {
  float* param[kMaxTensors];
  const float* grad[kMaxTensors];
  float* buf[kMaxTensors];  // null without momentum
  float weight_decay[kMaxTensors];
  int64_t numel[kMaxTensors];
  int64_t first_chunk[kMaxTensors + 1];  // tensor t owns blocks [first_chunk[t], first_chunk[t + 1])
  int count;
};

struct SgdScalars {
  float lr, momentum, dampening;
  bool nesterov, first_step;
};

__global__ void sgd_kernel(SgdBatch b, SgdScalars s) {
  int lo = 0, hi = b.count - 1;  // the tensor whose chunk range holds blockIdx.x
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (b.first_chunk[mid] <= static_cast<int64_t>(blockIdx.x)) lo = mid; else hi = mid - 1;
  }
  const int t = lo;
  const int64_t begin = (blockIdx.x - b.first_chunk[t]) * kChunk;
  const int64_t end = min(b.numel[t], begin + kChunk);
  float* p = b.param[t];
  const float* g = b.grad[t];
  float* buf = b.buf[t];
  const float wd = b.weight_decay[t];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    float d = g[i] + wd * p[i];
    if (buf) {
      const float m = s.first_step ? d : s.momentum * buf[i] + (1.f - s.dampening) * d;
      buf[i] = m;
      d = s.nesterov ? d + s.momentum * m : m;
    }
    p[i] -= s.lr * d;
  }
}

}  // namespace

void CudaBackend::sgd_step(const std::vector<SgdParam>& params, const SgdArgs& args) {
  const SgdScalars s{static_cast<float>(args.lr), static_cast<float>(args.momentum),
                     static_cast<float>(args.dampening), args.nesterov, args.first_step};
  SgdBatch batch{};
  int64_t chunks = 0;
  auto flush = [&] {
    if (batch.count == 0) return;
    batch.first_chunk[batch.count] = chunks;
    sgd_kernel<<<static_cast<unsigned>(chunks), kThreads, 0, cuda::stream()>>>(batch, s);
    MN_CUDA_LAUNCH_CHECK();
    batch = SgdBatch{};
    chunks = 0;
  };
  for (const SgdParam& p : params) {
    if (!p.grad.defined() || p.param.numel() == 0) continue;
    const bool use_momentum = args.momentum != 0;
    cuda::require_f32("sgd_step", {&p.param, &p.grad, &p.momentum_buffer});
    MN_CHECK(!use_momentum || p.momentum_buffer.defined(),
             "sgd_step: momentum ", args.momentum, " needs a momentum buffer for every parameter");
    const int64_t n = p.param.numel();
    const int64_t need = (n + kChunk - 1) / kChunk;
    if (batch.count == kMaxTensors || chunks + need > INT32_MAX) flush();
    const int t = batch.count++;
    batch.param[t] = static_cast<float*>(p.param.data_ptr());
    batch.grad[t] = static_cast<const float*>(p.grad.data_ptr());
    batch.buf[t] = use_momentum ? static_cast<float*>(p.momentum_buffer.data_ptr()) : nullptr;
    batch.weight_decay[t] = static_cast<float>(p.weight_decay);
    batch.numel[t] = n;
    batch.first_chunk[t] = chunks;
    chunks += need;
  }
  flush();
}

}  // namespace mn
