// Differentiable batch norm, optionally fused with the ReLU after it. In training the output
// depends on x through the batch statistics too, which the backward kernel accounts for; in eval
// the running statistics are constants.
#include "autograd/functions.h"
#include "tensor/batchnorm.h"

namespace mn {

Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta,
                    const Tensor& running_mean, const Tensor& running_var, bool training,
                    double momentum, double eps, bool relu) {
  Tensor in = x.data(), scale = gamma.data();
  ops::BatchNormOutput r = ops::batchnorm_forward(in, scale, beta.data(), running_mean,
                                                  running_var, training, momentum, eps, relu);
  // With relu the output is kept for the backward's mask (y > 0 exactly where the ReLU passed).
  return Variable::make(r.y, relu ? "batch_norm_relu" : "batch_norm", {x, gamma, beta},
                        [in, scale, mean = r.save_mean, invstd = r.save_invstd, training,
                         y = relu ? r.y : Tensor()](const Tensor& g) {
                          ops::BatchNormGrads d =
                              ops::batchnorm_backward(g, in, scale, mean, invstd, training, y);
                          return std::vector<Tensor>{d.dx, d.dgamma, d.dbeta};
                        });
}

}  // namespace mn
