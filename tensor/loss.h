// Classification losses from logits: cross-entropy (label smoothing) and the MutualNet
// distillation loss KL(softmax(teacher) || softmax(student)) with 'batchmean' reduction.
#pragma once
#include "tensor/backend.h"

namespace mn::ops {

struct LossOutput {
  Tensor loss;            // one element
  Tensor probs, target;   // saved for backward (target: teacher probabilities for KL)
};
LossOutput cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing);
Tensor cross_entropy_backward(const Tensor& probs, const Tensor& labels, double smoothing,
                              const Tensor& dloss);
LossOutput kl_div_forward(const Tensor& student, const Tensor& teacher);
Tensor kl_div_backward(const Tensor& student_probs, const Tensor& teacher_probs,
                       const Tensor& dloss);

}  // namespace mn::ops
