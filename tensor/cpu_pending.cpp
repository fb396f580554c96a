// Placeholders for CPU kernels that are still being written; each is removed as its op lands.
#include "tensor/cpu_backend.h"

namespace mn {

void CpuBackend::batchnorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean, const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) { fail("batchnorm_forward: CPU kernel not implemented yet"); }
void CpuBackend::batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean, const Tensor& save_invstd, bool training, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta) { fail("batchnorm_backward: CPU kernel not implemented yet"); }
void CpuBackend::maxpool2d_forward(const Tensor& x, const Tensor& y, const Tensor& indices, const Pool2dArgs& args) { fail("maxpool2d_forward: CPU kernel not implemented yet"); }
void CpuBackend::maxpool2d_backward(const Tensor& dy, const Tensor& indices, const Tensor& dx) { fail("maxpool2d_backward: CPU kernel not implemented yet"); }
void CpuBackend::avgpool2d_forward(const Tensor& x, const Tensor& y, const Pool2dArgs& args) { fail("avgpool2d_forward: CPU kernel not implemented yet"); }
void CpuBackend::avgpool2d_backward(const Tensor& dy, const Tensor& dx, const Pool2dArgs& args) { fail("avgpool2d_backward: CPU kernel not implemented yet"); }
void CpuBackend::adaptive_avgpool2d_forward(const Tensor& x, const Tensor& y) { fail("adaptive_avgpool2d_forward: CPU kernel not implemented yet"); }
void CpuBackend::adaptive_avgpool2d_backward(const Tensor& dy, const Tensor& dx) { fail("adaptive_avgpool2d_backward: CPU kernel not implemented yet"); }
void CpuBackend::resize_bilinear_forward(const Tensor& x, const Tensor& y, bool align_corners) { fail("resize_bilinear_forward: CPU kernel not implemented yet"); }
void CpuBackend::resize_bilinear_backward(const Tensor& dy, const Tensor& dx, bool align_corners) { fail("resize_bilinear_backward: CPU kernel not implemented yet"); }
void CpuBackend::pad2d_forward(const Tensor& x, const Tensor& y, const Pad2d& pad, PadMode mode) { fail("pad2d_forward: CPU kernel not implemented yet"); }
void CpuBackend::pad2d_backward(const Tensor& dy, const Tensor& dx, const Pad2d& pad, PadMode mode) { fail("pad2d_backward: CPU kernel not implemented yet"); }
void CpuBackend::softmax_forward(const Tensor& x, const Tensor& y, bool log) { fail("softmax_forward: CPU kernel not implemented yet"); }
void CpuBackend::softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, bool log) { fail("softmax_backward: CPU kernel not implemented yet"); }
void CpuBackend::cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing, const Tensor& loss, const Tensor& probs) { fail("cross_entropy_forward: CPU kernel not implemented yet"); }
void CpuBackend::cross_entropy_backward(const Tensor& probs, const Tensor& labels, double smoothing, const Tensor& dloss, const Tensor& dlogits) { fail("cross_entropy_backward: CPU kernel not implemented yet"); }
void CpuBackend::kl_div_forward(const Tensor& student, const Tensor& teacher, const Tensor& loss, const Tensor& student_probs, const Tensor& teacher_probs) { fail("kl_div_forward: CPU kernel not implemented yet"); }
void CpuBackend::kl_div_backward(const Tensor& student_probs, const Tensor& teacher_probs, const Tensor& dloss, const Tensor& dstudent) { fail("kl_div_backward: CPU kernel not implemented yet"); }
void CpuBackend::sgd_step(const std::vector<SgdParam>& params, const SgdArgs& args) { fail("sgd_step: CPU kernel not implemented yet"); }

}  // namespace mn
