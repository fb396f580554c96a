// Differentiable ops on Variables. Each is defined in autograd/<stem>.cpp with its forward and
// backward side by side, on top of the raw kernels in tensor/.
#pragma once
#include <functional>
#include <optional>

#include "autograd/variable.h"
#include "tensor/backend.h"
#include "tensor/random.h"

namespace mn {

// elementwise.cpp (broadcasting binary ops reduce gradients back to each input's shape)
Variable add(const Variable& a, const Variable& b);
Variable sub(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
Variable div(const Variable& a, const Variable& b);
Variable neg(const Variable& x);
Variable exp(const Variable& x);
Variable log(const Variable& x);
Variable sqrt(const Variable& x);
Variable pow(const Variable& x, double exponent);
Variable relu(const Variable& x);
Variable relu6(const Variable& x);
Variable clamp(const Variable& x, double lo, double hi);
Variable scale(const Variable& x, double s);       // s * x
Variable add_scalar(const Variable& x, double s);  // x + s
inline Variable operator+(const Variable& a, const Variable& b) { return add(a, b); }
inline Variable operator-(const Variable& a, const Variable& b) { return sub(a, b); }
inline Variable operator*(const Variable& a, const Variable& b) { return mul(a, b); }
inline Variable operator/(const Variable& a, const Variable& b) { return div(a, b); }
inline Variable operator-(const Variable& x) { return neg(x); }
inline Variable operator*(const Variable& x, double s) { return scale(x, s); }
inline Variable operator*(double s, const Variable& x) { return scale(x, s); }
inline Variable operator+(const Variable& x, double s) { return add_scalar(x, s); }

// reduce.cpp
Variable sum(const Variable& x, const std::vector<int>& dims, bool keepdim = false);
Variable sum(const Variable& x);  // all elements
Variable mean(const Variable& x, const std::vector<int>& dims, bool keepdim = false);
Variable mean(const Variable& x);
Variable max(const Variable& x, int dim, bool keepdim = false);  // gradient to the argmax
Variable var(const Variable& x, const std::vector<int>& dims, bool unbiased = false,
             bool keepdim = false);

// cast.cpp: x in another floating dtype (and, with format = channels_last, in that layout; by
// default a copy keeps x's layout); the gradient is cast back to x's dtype.
Variable cast(const Variable& x, DType dtype, std::optional<MemoryFormat> format = std::nullopt);

// matmul.cpp
Variable matmul(const Variable& a, const Variable& b);  // (m, k) @ (k, n)
// x (N, in) @ w (out, in)^T + b (out); w and b may be width slices of larger parameters.
Variable linear(const Variable& x, const Variable& w, const std::optional<Variable>& b);

// conv2d.cpp
Variable conv2d(const Variable& x, const Variable& w, const std::optional<Variable>& b,
                const Conv2dArgs& args);

// batchnorm.cpp: running stats (plain tensors, possibly prefix views) are updated in training.
// With relu: relu(batch_norm(x)) as one op (one pass over the activations each way on the CPU).
Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta,
                    const Tensor& running_mean, const Tensor& running_var, bool training,
                    double momentum, double eps, bool relu = false);
// The data-parallel processes an op spans: this one's rank of `size`, an element-wise sum over
// all of them in place (dist::Communicator::all_reduce_sum), and the sum over all of them of a
// host number, which leaves the device alone (dist::Communicator::sum).
struct ProcessGroup {
  int rank = 0, size = 1;
  std::function<void(const Tensor&)> all_reduce_sum;
  std::function<double(double)> host_sum;
};
// Training batch norm of a batch split across processes (synchronized batch norm): the batch
// statistics, and in the backward the two sums the input gradient needs, are gathered over the
// processes, so that N of them normalise as one process holding the whole batch. Every process
// must call it for the same layers in the same order.
Variable sync_batch_norm(const Variable& x, const Variable& gamma, const Variable& beta,
                         const Tensor& running_mean, const Tensor& running_var, double momentum,
                         double eps, bool relu, const ProcessGroup& group);

// pool2d.cpp
Variable max_pool2d(const Variable& x, const Pool2dArgs& args);
Variable avg_pool2d(const Variable& x, const Pool2dArgs& args);
Variable adaptive_avg_pool2d(const Variable& x, int64_t out_h, int64_t out_w);

// resize.cpp, pad2d.cpp: for models and a GPU-side input path; the loader does its own on the CPU.
Variable resize_bilinear(const Variable& x, int64_t out_h, int64_t out_w, bool align_corners);
Variable pad2d(const Variable& x, const Pad2d& pad, PadMode mode);

// dropout.cpp: inverted dropout (kept values scaled by 1/(1-p)); identity when !training.
Variable dropout(const Variable& x, double p, bool training, Generator& gen);

// softmax.cpp, loss.cpp
Variable softmax(const Variable& x);      // over the last dim
Variable log_softmax(const Variable& x);  // over the last dim
Variable cross_entropy(const Variable& logits, const Tensor& labels, double smoothing = 0);
// KL(softmax(teacher) || softmax(student)), 'batchmean'; the teacher gets no gradient.
Variable kl_div(const Variable& student_logits, const Tensor& teacher_logits);

}  // namespace mn
