// The CPU implementation of every primitive; each method is defined in the *_cpu.cpp file of its op.
#pragma once
#include "tensor/backend.h"

namespace mn {

class CpuBackend final : public Backend {
 public:
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) override;
  void synchronize() override;
  void set_precision(Precision p) override;
  void set_memory_format(MemoryFormat f) override;
  MemoryFormat memory_format() override { return format_; }
  MemoryStats memory_stats() override;
  void reset_peak_memory() override;
  void empty_cache() override;
  void copy(const Tensor& dst, const Tensor& src) override;
  void fill(const Tensor& dst, double value) override;
  void unary(UnaryOp op, const Tensor& out, const Tensor& in, double a, double b) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override;
  void reduce_rows(ReduceOp op, const Tensor& out, const Tensor& in) override;
  void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const Tensor& a, int64_t lda, const Tensor& b, int64_t ldb, double beta, const Tensor& c, int64_t ldc) override;
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dArgs& args) override;
  void conv2d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv2dArgs& args) override;
  void conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw, const Conv2dArgs& args, bool accumulate) override;
  void conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& dx, const Tensor& dw, const Conv2dArgs& args) override;
  void batchnorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean, const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) override;
  void batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean, const Tensor& save_invstd, bool training, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta) override;
  void batchnorm_relu_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean, const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) override;
  void batchnorm_stats(const Tensor& x, const Tensor& mean, const Tensor& var) override;
  void batchnorm_backward_reduce(const Tensor& dy, const Tensor& x, const Tensor& relu_y, const Tensor& mean, const Tensor& sum_g, const Tensor& sum_gx) override;
  void batchnorm_backward_apply(const Tensor& dy, const Tensor& x, const Tensor& relu_y, const Tensor& mean, const Tensor& invstd, const Tensor& gamma, const Tensor& sum_g, const Tensor& sum_gx, double count, const Tensor& dx) override;
  void batchnorm_relu_backward(const Tensor& dy, const Tensor& x, const Tensor& y, const Tensor& gamma, const Tensor& save_mean, const Tensor& save_invstd, bool training, const Tensor& dx, const Tensor& dgamma, const Tensor& dbeta) override;
  void maxpool2d_forward(const Tensor& x, const Tensor& y, const Tensor& indices, const Pool2dArgs& args) override;
  void maxpool2d_backward(const Tensor& dy, const Tensor& indices, const Tensor& dx) override;
  void avgpool2d_forward(const Tensor& x, const Tensor& y, const Pool2dArgs& args) override;
  void avgpool2d_backward(const Tensor& dy, const Tensor& dx, const Pool2dArgs& args) override;
  void adaptive_avgpool2d_forward(const Tensor& x, const Tensor& y) override;
  void adaptive_avgpool2d_backward(const Tensor& dy, const Tensor& dx) override;
  void resize_bilinear_forward(const Tensor& x, const Tensor& y, bool align_corners) override;
  void resize_bilinear_backward(const Tensor& dy, const Tensor& dx, bool align_corners) override;
  void pad2d_forward(const Tensor& x, const Tensor& y, const Pad2d& pad, PadMode mode) override;
  void pad2d_backward(const Tensor& dy, const Tensor& dx, const Pad2d& pad, PadMode mode) override;
  void crop_batch(const Tensor& images, const Tensor& params, const Tensor& table, PadMode mode, const Tensor& out) override;
  void resample_taps(const Tensor& x, const Tensor& rows_first, const Tensor& rows_weights, const Tensor& cols_first, const Tensor& cols_weights, const Tensor& y) override;
  void softmax_forward(const Tensor& x, const Tensor& y, bool log) override;
  void softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, bool log) override;
  void cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing, const Tensor& loss, const Tensor& probs) override;
  void cross_entropy_backward(const Tensor& probs, const Tensor& labels, double smoothing, const Tensor& dloss, const Tensor& dlogits) override;
  void kl_div_forward(const Tensor& student, const Tensor& teacher, const Tensor& loss, const Tensor& student_probs, const Tensor& teacher_probs) override;
  void kl_div_backward(const Tensor& student_probs, const Tensor& teacher_probs, const Tensor& dloss, const Tensor& dstudent) override;
  void sgd_step(const std::vector<SgdParam>& params, const SgdArgs& args) override;

 private:
  // Channels-last: oneDNN's convolutions read and write NHWC in place and batch norm has NHWC
  // kernels; the ops without one (pooling, resize, padding, and convs oneDNN does not take) run
  // their NCHW kernel on converted copies (cpu::via_nchw).
  MemoryFormat format_ = MemoryFormat::contiguous;
};

namespace cpu {

// t is 4-D and dense channels-last, and not also contiguous (C = 1 or H = W = 1 tensors are both,
// and the NCHW kernels read them as they are).
inline bool channels_last(const Tensor& t) {
  return t.defined() && t.dim() == 4 && t.memory_format() == MemoryFormat::channels_last;
}

// Runs an NCHW-only kernel on channels-last operands: kernel(ins, outs) gets NCHW copies of the
// channels-last tensors among `ins`, NCHW buffers for those among `outs` (holding their values only
// with outputs_read, for a kernel that accumulates), and the outputs' results are copied back.
// Other operands pass as they are.
template <class F>
void via_nchw(std::vector<Tensor> ins, const std::vector<Tensor>& outs, F&& kernel, bool outputs_read = false) {
  for (Tensor& t : ins)
    if (channels_last(t)) t = t.contiguous();
  std::vector<Tensor> nchw = outs;
  for (Tensor& t : nchw)
    if (channels_last(t)) t = outputs_read ? t.contiguous() : Tensor::empty(t.shape(), t.dtype(), t.device());
  kernel(ins, nchw);
  for (size_t i = 0; i < outs.size(); ++i)
    if (nchw[i].data_ptr() != outs[i].data_ptr()) outs[i].copy_(nchw[i]);
}

}  // namespace cpu

}  // namespace mn
