// Batch normalisation over (N, H, W) per channel of NCHW input.
#pragma once
#include "tensor/backend.h"

namespace mn::ops {

struct BatchNormOutput {
  Tensor y, save_mean, save_invstd;  // saved statistics feed the backward
};
// Running statistics are updated in place when training (they may be prefix views of the
// full-width buffers). momentum follows PyTorch: running = (1 - m) * running + m * batch.
// With relu, y = max(0, batch norm) in one pass where the backend fuses the two.
BatchNormOutput batchnorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  const Tensor& running_mean, const Tensor& running_var,
                                  bool training, double momentum, double eps, bool relu = false);
struct BatchNormGrads {
  Tensor dx, dgamma, dbeta;
};
// relu_y: after a forward with relu, its output (dy flows where it is positive); else undefined.
BatchNormGrads batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                  const Tensor& save_mean, const Tensor& save_invstd,
                                  bool training, const Tensor& relu_y = Tensor());

// Batch norm in phases, for statistics shared by several processes (autograd's sync_batch_norm;
// Backend::batchnorm_stats and the two below). g is dy, zeroed where relu_y (when defined) is not
// positive.
struct BatchNormStats {
  Tensor mean, var;  // (C): this batch's mean and biased variance
};
BatchNormStats batchnorm_stats(const Tensor& x);
struct BatchNormSums {
  Tensor sum_g, sum_gx;  // (C): sums of g and g * (x - mean)
};
BatchNormSums batchnorm_backward_reduce(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                        const Tensor& mean);
// gamma * invstd * (g - sum_g / count - (x - mean) * invstd^2 * sum_gx / count)
Tensor batchnorm_backward_apply(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                const Tensor& mean, const Tensor& invstd, const Tensor& gamma,
                                const BatchNormSums& sums, double count);

}  // namespace mn::ops
