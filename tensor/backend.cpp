// Picks the backend for a device. The CUDA backend lives in cuda/ and is linked only when mn is
// built with CUDA; without it, asking for a CUDA device is an mn::Error.
#include "tensor/backend.h"

#include "tensor/cpu_backend.h"
#include "tensor/elementwise.h"
#include "tensor/reduce.h"

namespace mn {

Backend& backend(Device device) {
  static CpuBackend cpu;
  if (device.is_cpu()) return cpu;
  return cuda_backend();
}

namespace {

// In float32 when the activations are bfloat16 (per-channel results are float32 then).
Tensor wide(const Tensor& t) { return t.dtype() == DType::bf16 ? t.to(DType::f32) : t; }
Tensor masked_grad(const Tensor& dy, const Tensor& relu_y) {
  return wide(relu_y.defined() ? ops::binary(BinaryOp::relu_backward, dy, relu_y) : dy);
}
Tensor per_channel(const Tensor& t) { return t.reshape({1, t.numel(), 1, 1}); }

}  // namespace

void Backend::batchnorm_stats(const Tensor& x, const Tensor& mean, const Tensor& var) {
  mean.copy_(ops::mean(wide(x), {0, 2, 3}));
  var.copy_(ops::var(wide(x), {0, 2, 3}));
}

void Backend::batchnorm_backward_reduce(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                        const Tensor& mean, const Tensor& sum_g,
                                        const Tensor& sum_gx) {
  const Tensor g = masked_grad(dy, relu_y);
  sum_g.copy_(ops::sum(g, {0, 2, 3}));
  sum_gx.copy_(ops::sum(ops::mul(g, ops::sub(wide(x), per_channel(mean))), {0, 2, 3}));
}

void Backend::batchnorm_backward_apply(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                       const Tensor& mean, const Tensor& invstd,
                                       const Tensor& gamma, const Tensor& sum_g,
                                       const Tensor& sum_gx, double count, const Tensor& dx) {
  const Tensor g = masked_grad(dy, relu_y);
  const Tensor k = ops::mul(gamma, invstd);
  const Tensor mean_g = ops::scale(sum_g, 1.0 / count);
  const Tensor mean_gx = ops::scale(ops::mul(ops::mul(sum_gx, invstd), invstd), 1.0 / count);
  Tensor r = ops::sub(g, per_channel(mean_g));
  r = ops::sub(r, ops::mul(ops::sub(wide(x), per_channel(mean)), per_channel(mean_gx)));
  dx.copy_(ops::mul(r, per_channel(k)));
}

#ifndef MN_HAVE_CUDA
bool cuda_available() { return false; }
void cuda_select_device(int) {}
bool cuda_bf16_supported() { return false; }
Backend& cuda_backend() { fail("this build of mn has no CUDA backend (rebuild with the CUDA toolkit)"); }
#endif

}  // namespace mn
