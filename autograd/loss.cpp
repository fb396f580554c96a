// The two MutualNet losses as differentiable ops on logits: cross-entropy with label smoothing
// for the widest network, KL(softmax(teacher) || softmax(student)) for the others. Each saves the
// softmax its backward needs (dlogits = dloss * (p - target) / N).
#include "autograd/functions.h"
#include "tensor/loss.h"

namespace mn {

Variable cross_entropy(const Variable& logits, const Tensor& labels, double smoothing) {
  ops::LossOutput r = ops::cross_entropy_forward(logits.data(), labels, smoothing);
  return Variable::make(r.loss, "cross_entropy", {logits},
                        [probs = r.probs, labels, smoothing](const Tensor& g) {
                          return std::vector<Tensor>{
                              ops::cross_entropy_backward(probs, labels, smoothing, g)};
                        });
}

// The teacher is a plain Tensor: it never receives a gradient.
Variable kl_div(const Variable& student_logits, const Tensor& teacher_logits) {
  ops::LossOutput r = ops::kl_div_forward(student_logits.data(), teacher_logits);
  return Variable::make(r.loss, "kl_div", {student_logits},
                        [probs = r.probs, target = r.target](const Tensor& g) {
                          return std::vector<Tensor>{ops::kl_div_backward(probs, target, g)};
                        });
}

}  // namespace mn
