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

}  // namespace mn::ops
