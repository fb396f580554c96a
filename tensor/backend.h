// Backend: the primitive ops a device must implement. The dispatch functions in tensor/*.cpp check
// shapes, allocate outputs and call the backend of the tensors' device; CpuBackend
// (tensor/*_cpu.cpp) and CudaBackend (cuda/*.cu) implement every method. Kernels may assume the
// layouts stated here because the dispatchers guarantee them.
#pragma once
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace mn {

enum class UnaryOp { neg, exp, log, sqrt, abs, relu, relu6, pow, clamp, affine };
// Comparisons write 1 or 0 in the inputs' dtype (usable directly as a mask).
// relu_backward / relu6_backward: a = upstream gradient, b = the op's output (or input: same mask).
enum class BinaryOp { add, sub, mul, div, max, min, eq, ne, lt, le, gt, ge, relu_backward, relu6_backward };
enum class ReduceOp { sum, mean, max, min, argmax, var, var_unbiased };
enum class PadMode { zero, reflect };

// The arithmetic of convolutions and matrix products: float32; TF32 tensor cores (CUDA); or
// bfloat16 operands with float32 accumulation. With bf16 the CPU keeps float32 tensors and rounds
// conv operands inside oneDNN (AVX512-BF16 / AMX); CUDA keeps the activations themselves in bf16
// between ops (activation_dtype below), with float32 batch-norm statistics, losses and weights.
enum class Precision { fp32, tf32, bf16 };

struct Conv2dArgs {
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
};
struct Pool2dArgs {
  int kernel_h, kernel_w, stride_h, stride_w, pad_h = 0, pad_w = 0;
};
struct Pad2d {
  int left = 0, right = 0, top = 0, bottom = 0;
};
struct SgdParam {
  Tensor param, grad, momentum_buffer;
  double weight_decay = 0;
};
// Device memory accounting (bytes). allocated: held by live tensors and scratch buffers; peak: the
// highest `allocated` since reset_peak_memory(); reserved: held from the driver by the caching
// allocator (allocated plus cached free blocks).
struct MemoryStats {
  size_t allocated = 0, peak = 0, reserved = 0;
};
struct SgdArgs {
  double lr = 0, momentum = 0, dampening = 0;
  bool nesterov = false;
  bool first_step = false;  // momentum buffers are initialised to the first gradient
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Memory. copy_bytes moves between this device and the host or within this device.
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  virtual void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device,
                          size_t nbytes) = 0;
  virtual void synchronize() = 0;
  // Page-locked host memory for batches that will be copied to this device (CUDA overrides).
  virtual void* allocate_pinned(size_t nbytes) { fail("pinned host memory needs the CUDA backend"); }
  virtual void deallocate_pinned(void* ptr) {}
  // Whether an asynchronous copy out of this pinned memory may still be reading it (false for
  // memory that is not pinned): a pool that reuses pinned buffers itself asks before writing.
  virtual bool copy_in_flight(const void* pinned) { return false; }
  // Starts a host-to-device copy and returns without waiting when the source is pinned memory
  // (Tensor::empty_pinned): work queued on this device afterwards runs after the copy, and the
  // source must not be written until then (freeing a Tensor::empty_pinned source is safe: the
  // pinned allocator reuses no block before its copies finish, and the CPU loader's own pool of
  // pinned batch buffers asks copy_in_flight). Other sources, and backends without asynchronous
  // copies, copy synchronously.
  virtual void copy_bytes_async(void* dst, Device dst_device, const void* src, Device src_device,
                                size_t nbytes) {
    copy_bytes(dst, dst_device, src, src_device, nbytes);
  }
  virtual MemoryStats memory_stats() { return {}; }
  virtual void reset_peak_memory() {}
  virtual void empty_cache() {}  // hands cached free blocks back to the driver
  virtual std::string device_name() { return "cpu"; }  // e.g. "NVIDIA H100 80GB HBM3"
  // The precision of convolutions from now on; a clear error where the device has no such mode.
  // CUDA starts in tf32 (PyTorch's cudnn.allow_tf32 default), the CPU in fp32.
  virtual void set_precision(Precision p) = 0;
  // The dtype a model's activations take under the current precision (models::Model casts its
  // input to it and its logits back to float32; layers cast their weight slices to their input's
  // dtype). float32 except CUDA under bf16.
  virtual DType activation_dtype() { return DType::f32; }
  // The layout of 4-D activations and their gradients from now on: the convolution, batch-norm,
  // pooling, resize and padding dispatchers hand this backend inputs in it (converting any that
  // are not) and allocate outputs in it, and models::Model converts its input to it. Both
  // backends start in contiguous (NCHW) and take channels_last.
  virtual void set_memory_format(MemoryFormat f) = 0;
  virtual MemoryFormat memory_format() = 0;

  // Elementwise. Operands have out's shape (broadcast inputs come expanded, stride 0), any strides.
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;  // dtype conversion allowed
  virtual void fill(const Tensor& dst, double value) = 0;
  // pow: x^a; clamp: min(max(x, a), b); affine: a*x + b.
  virtual void unary(UnaryOp op, const Tensor& out, const Tensor& in, double a, double b) = 0;
  virtual void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) = 0;

  // in: contiguous (M, K); out: contiguous (M) (i64 for argmax).
  virtual void reduce_rows(ReduceOp op, const Tensor& out, const Tensor& in) = 0;

  // Row-major C = alpha * op(A) @ op(B) + beta * C, C (m, n). Leading dimensions let a sliced
  // weight be read in place. Tensors carry the base pointer, dtype and device.
  virtual void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                    const Tensor& a, int64_t lda, const Tensor& b, int64_t ldb, double beta,
                    const Tensor& c, int64_t ldc) = 0;

  // x (N, C, H, W) and y (N, O, Ho, Wo) contiguous; w (O, C/groups, kh, kw) with contiguous inner
  // three dims and any stride(0) (a width slice of a larger weight). dw may be such a view too;
  // accumulate adds into it instead of overwriting. Under channels_last (memory_format above),
  // x, y, w and dw are all dense channels-last (filters KRSC, as cuDNN's NHWC kernels want them).
  virtual void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& y,
                              const Conv2dArgs& args) = 0;
  virtual void conv2d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx,
                                    const Conv2dArgs& args) = 0;
  virtual void conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw,
                                      const Conv2dArgs& args, bool accumulate) = 0;
  // Both gradients at once (dw packed and overwritten), for a backend that shares work between
  // the two passes; by default the two calls above.
  virtual void conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& dx,
                               const Tensor& dw, const Conv2dArgs& args) {
    conv2d_backward_data(dy, w, dx, args);
    conv2d_backward_weight(x, dy, dw, args, false);
  }

  // x, y (N, C, H, W) contiguous, or all dense channels-last under channels_last (as every
  // activation below); per-channel tensors (C) contiguous (possibly prefix views).
  // Training: normalise with batch statistics, save mean and 1/sqrt(var + eps), update running
  // stats as (1 - momentum) * running + momentum * batch (unbiased variance). Eval: running stats.
  virtual void batchnorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var,
                                 bool training, double momentum, double eps, const Tensor& y,
                                 const Tensor& save_mean, const Tensor& save_invstd) = 0;
  virtual void batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                  const Tensor& save_mean, const Tensor& save_invstd,
                                  bool training, const Tensor& dx, const Tensor& dgamma,
                                  const Tensor& dbeta) = 0;
  // Batch norm and a ReLU of its output in one pass where the backend fuses them (by default the
  // ops one after the other). The backward takes that forward's y: dy flows where y > 0.
  virtual void batchnorm_relu_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      const Tensor& running_mean, const Tensor& running_var,
                                      bool training, double momentum, double eps, const Tensor& y,
                                      const Tensor& save_mean, const Tensor& save_invstd) {
    batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum, eps, y,
                      save_mean, save_invstd);
    unary(UnaryOp::relu, y, y, 0, 0);
  }
  virtual void batchnorm_relu_backward(const Tensor& dy, const Tensor& x, const Tensor& y,
                                       const Tensor& gamma, const Tensor& save_mean,
                                       const Tensor& save_invstd, bool training, const Tensor& dx,
                                       const Tensor& dgamma, const Tensor& dbeta) {
    const Tensor masked = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
    binary(BinaryOp::relu_backward, masked, dy, y);
    batchnorm_backward(masked, x, gamma, save_mean, save_invstd, training, dx, dgamma, dbeta);
  }
  // Batch norm in phases, for statistics shared by several processes (sync_batch_norm); the
  // defaults are composed of other ops (backend.cpp). g is dy, zeroed where relu_y (when
  // defined) is not positive; sums run over (N, H, W); per-channel tensors are (C), contiguous.
  // mean, var <- this process's batch mean and biased variance.
  virtual void batchnorm_stats(const Tensor& x, const Tensor& mean, const Tensor& var);
  // sum_g <- sum(g), sum_gx <- sum(g * (x - mean)).
  virtual void batchnorm_backward_reduce(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                         const Tensor& mean, const Tensor& sum_g,
                                         const Tensor& sum_gx);
  // dx <- gamma * invstd * (g - sum_g / count - (x - mean) * invstd^2 * sum_gx / count).
  virtual void batchnorm_backward_apply(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                        const Tensor& mean, const Tensor& invstd,
                                        const Tensor& gamma, const Tensor& sum_g,
                                        const Tensor& sum_gx, double count, const Tensor& dx);

  // Pooling on contiguous NCHW (channels-last under channels_last; indices are positions h * W + w
  // within a plane in either layout); average pooling counts padding (PyTorch's default).
  virtual void maxpool2d_forward(const Tensor& x, const Tensor& y, const Tensor& indices,
                                 const Pool2dArgs& args) = 0;
  virtual void maxpool2d_backward(const Tensor& dy, const Tensor& indices, const Tensor& dx) = 0;
  virtual void avgpool2d_forward(const Tensor& x, const Tensor& y, const Pool2dArgs& args) = 0;
  virtual void avgpool2d_backward(const Tensor& dy, const Tensor& dx, const Pool2dArgs& args) = 0;
  virtual void adaptive_avgpool2d_forward(const Tensor& x, const Tensor& y) = 0;
  virtual void adaptive_avgpool2d_backward(const Tensor& dy, const Tensor& dx) = 0;

  // Bilinear resize and padding of contiguous NCHW (channels-last under channels_last), with
  // PyTorch's coordinate rules.
  virtual void resize_bilinear_forward(const Tensor& x, const Tensor& y, bool align_corners) = 0;
  virtual void resize_bilinear_backward(const Tensor& dy, const Tensor& dx, bool align_corners) = 0;
  virtual void pad2d_forward(const Tensor& x, const Tensor& y, const Pad2d& pad, PadMode mode) = 0;
  virtual void pad2d_backward(const Tensor& dy, const Tensor& dx, const Pad2d& pad,
                              PadMode mode) = 0;

  // Input batches built on the device (data/device_loader.h); both bitwise equal to the CPU
  // loader's arithmetic. crop_batch: images u8 (N, H, W, C), the dataset's layout; params i64
  // (B, 4): row b is image params[b][0]'s window from (top, left) = (params[b][1], params[b][2]),
  // which may reach into the padding (zero, or reflect excluding the edge), mirrored when
  // params[b][3] != 0; byte v of channel c becomes table[c][v] (table f32 (C, 256)); out f32
  // (B, C, S, S). resample_taps: separable resampling of f32 planes x (N, C, H, W) into y
  // (N, C, Ho, Wo) with taps from data/resample.h (first i64 (Ho) / (Wo), weights f32 (Ho, taps) /
  // (Wo, taps)), the vertical sums first, as PlaneResizer computes them. All contiguous.
  virtual void crop_batch(const Tensor& images, const Tensor& params, const Tensor& table,
                          PadMode mode, const Tensor& out) = 0;
  virtual void resample_taps(const Tensor& x, const Tensor& rows_first, const Tensor& rows_weights,
                             const Tensor& cols_first, const Tensor& cols_weights,
                             const Tensor& y) = 0;

  // Rows of contiguous (M, K). log selects log-softmax. Backward takes the forward's output.
  virtual void softmax_forward(const Tensor& x, const Tensor& y, bool log) = 0;
  virtual void softmax_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, bool log) = 0;

  // logits (N, K) contiguous, labels (N) i64. loss: one element, mean over the batch, with label
  // smoothing eps (target = (1 - eps) one-hot + eps / K). probs (N, K) saved for backward.
  virtual void cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing,
                                     const Tensor& loss, const Tensor& probs) = 0;
  // dlogits = dloss * (probs - target) / N; dloss is a one-element tensor.
  virtual void cross_entropy_backward(const Tensor& probs, const Tensor& labels, double smoothing,
                                      const Tensor& dloss, const Tensor& dlogits) = 0;
  // KL(softmax(teacher) || softmax(student)), 'batchmean'. Saves both softmaxes for backward.
  virtual void kl_div_forward(const Tensor& student, const Tensor& teacher, const Tensor& loss,
                              const Tensor& student_probs, const Tensor& teacher_probs) = 0;
  // dstudent = dloss * (student_probs - teacher_probs) / N.
  virtual void kl_div_backward(const Tensor& student_probs, const Tensor& teacher_probs,
                               const Tensor& dloss, const Tensor& dstudent) = 0;

  // One SGD step (PyTorch's update rule) over every parameter; each tensor contiguous.
  virtual void sgd_step(const std::vector<SgdParam>& params, const SgdArgs& args) = 0;
};

Backend& backend(Device device);  // throws mn::Error when that device is not available

// CUDA presence, answerable without CUDA headers (false when mn was built without CUDA).
bool cuda_available();
// The GPU this process drives is local_rank modulo the number it sees (0 when never called): one
// GPU per rank of a machine whether the launcher hands each rank its own GPU or all of them.
// Call before the first CUDA use; afterwards, one that would pick another GPU is an mn::Error.
// Does nothing without CUDA.
void cuda_select_device(int local_rank);
// Whether the GPU computes bfloat16 on tensor cores (compute capability 8.0 or newer): what
// precision = "auto" picks bf16 for. False without CUDA.
bool cuda_bf16_supported();
Backend& cuda_backend();  // defined in cuda/ when built with CUDA

// An overlapped copy of `host` to `device`, made with copy_bytes_async. With `host` from
// Tensor::empty_pinned, called for the next batch right after queueing the current step, the
// copy runs while that step computes and the next step's work waits for it. The device loader
// (data/device_loader.h) sends each batch's crop parameters and labels with it, the upload loader
// the CPU loader's batches (from BatchSource::prefetch, during the step).
inline Tensor to_device_async(const Tensor& host, Device device) {
  if (host.device() == device) return host;
  MN_CHECK(host.device().is_cpu() && host.is_contiguous(),
           "to_device_async: expects a contiguous host tensor, got one on ", host.device().str());
  Tensor dst = Tensor::empty(host.shape(), host.dtype(), device);
  if (host.numel() > 0)
    backend(device).copy_bytes_async(dst.data_ptr(), device, host.data_ptr(), host.device(),
                                     host.numel() * dtype_size(host.dtype()));
  return dst;
}

}  // namespace mn
