// CPU SGD with PyTorch's update rule, per element:
//   d = g + wd * p
//   buf = d on the first step, else momentum * buf + (1 - dampening) * d
//   d = d + momentum * buf (Nesterov) or buf
//   p -= lr * d
#include "tensor/cpu_backend.h"
#include "tensor/cpu_loops.h"

namespace mn {
namespace {

template <class T>
void step(const SgdParam& sp, const SgdArgs& a) {
  T* p = sp.param.data<T>();
  const T* g = sp.grad.data<T>();
  T* buf = a.momentum != 0 ? sp.momentum_buffer.data<T>() : nullptr;
  const int64_t n = sp.param.numel();
  const T lr = static_cast<T>(a.lr), wd = static_cast<T>(sp.weight_decay);
  const T m = static_cast<T>(a.momentum), keep = static_cast<T>(1 - a.dampening);
#pragma omp parallel for schedule(static) if (n >= cpu::kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    T d = g[i] + wd * p[i];
    if (buf) {
      buf[i] = a.first_step ? d : m * buf[i] + keep * d;
      d = a.nesterov ? d + m * buf[i] : buf[i];
    }
    p[i] -= lr * d;
  }
}

}  // namespace

void CpuBackend::sgd_step(const std::vector<SgdParam>& params, const SgdArgs& args) {
  for (const SgdParam& p : params)
    cpu::dispatch_float(p.param.dtype(), "sgd", [&](auto t) { step<decltype(t)>(p, args); });
}

}  // namespace mn
