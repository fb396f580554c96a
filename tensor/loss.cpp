// Loss dispatch: logits (N, K) with N >= 1, labels (N) int64, one-element losses.
#include "tensor/loss.h"

#include "tensor/op_checks.h"

namespace mn::ops {
namespace {

void check_logits(const char* op, const Tensor& logits, const char* what) {
  check_float(op, logits, what);
  MN_CHECK(logits.dim() == 2 && logits.size(0) >= 1 && logits.size(1) >= 1, op, ": ", what,
           " must be (N, classes) with N, classes >= 1, got ", shape_str(logits.shape()));
}

void check_labels(const char* op, const Tensor& logits, const Tensor& labels) {
  MN_CHECK(labels.defined() && labels.dtype() == DType::i64, op, ": labels must be int64, got ",
           labels.defined() ? dtype_name(labels.dtype()) : "undefined");
  MN_CHECK(labels.device() == logits.device(), op, ": labels are on ", labels.device().str(),
           " but logits on ", logits.device().str());
  MN_CHECK(labels.dim() == 1 && labels.size(0) == logits.size(0), op, ": labels ",
           shape_str(labels.shape()), " do not match logits ", shape_str(logits.shape()));
}

void check_smoothing(const char* op, double smoothing) {
  MN_CHECK(smoothing >= 0 && smoothing <= 1, op, ": label smoothing must be in [0, 1], got ",
           smoothing);
}

void check_dloss(const char* op, const Tensor& ref, const Tensor& dloss) {
  check_same(op, ref, "probabilities", dloss, "loss gradient");
  MN_CHECK(dloss.numel() == 1, op, ": loss gradient must have one element, got ",
           shape_str(dloss.shape()));
}

}  // namespace

LossOutput cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing) {
  check_logits("cross_entropy", logits, "logits");
  check_labels("cross_entropy", logits, labels);
  check_smoothing("cross_entropy", smoothing);
  LossOutput out{Tensor::empty({}, logits.dtype(), logits.device()),
                 Tensor::empty(logits.shape(), logits.dtype(), logits.device()), Tensor()};
  backend(logits.device()).cross_entropy_forward(logits.contiguous(), labels.contiguous(),
                                                 smoothing, out.loss, out.probs);
  return out;
}

Tensor cross_entropy_backward(const Tensor& probs, const Tensor& labels, double smoothing,
                              const Tensor& dloss) {
  check_logits("cross_entropy backward", probs, "probabilities");
  check_labels("cross_entropy backward", probs, labels);
  check_smoothing("cross_entropy backward", smoothing);
  check_dloss("cross_entropy backward", probs, dloss);
  Tensor dlogits = Tensor::empty(probs.shape(), probs.dtype(), probs.device());
  backend(probs.device()).cross_entropy_backward(probs.contiguous(), labels.contiguous(),
                                                 smoothing, dloss.contiguous(), dlogits);
  return dlogits;
}

LossOutput kl_div_forward(const Tensor& student, const Tensor& teacher) {
  check_logits("kl_div", student, "student logits");
  check_same("kl_div", student, "student logits", teacher, "teacher logits");
  check_shape("kl_div", teacher, "teacher logits", student.shape());
  LossOutput out{Tensor::empty({}, student.dtype(), student.device()),
                 Tensor::empty(student.shape(), student.dtype(), student.device()),
                 Tensor::empty(student.shape(), student.dtype(), student.device())};
  backend(student.device()).kl_div_forward(student.contiguous(), teacher.contiguous(), out.loss,
                                           out.probs, out.target);
  return out;
}

Tensor kl_div_backward(const Tensor& student_probs, const Tensor& teacher_probs,
                       const Tensor& dloss) {
  check_logits("kl_div backward", student_probs, "student probabilities");
  check_same("kl_div backward", student_probs, "student probabilities", teacher_probs,
             "teacher probabilities");
  check_shape("kl_div backward", teacher_probs, "teacher probabilities", student_probs.shape());
  check_dloss("kl_div backward", student_probs, dloss);
  Tensor ds = Tensor::empty(student_probs.shape(), student_probs.dtype(), student_probs.device());
  backend(student_probs.device()).kl_div_backward(student_probs.contiguous(),
                                                  teacher_probs.contiguous(), dloss.contiguous(),
                                                  ds);
  return ds;
}

}  // namespace mn::ops
