// Differentiable batch norm, optionally fused with the ReLU after it. In training the output
// depends on x through the batch statistics too, which the backward kernel accounts for; in eval
// the running statistics are constants.
#include "autograd/functions.h"
#include "tensor/batchnorm.h"
#include "tensor/elementwise.h"
#include "tensor/reduce.h"

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

Variable sync_batch_norm(const Variable& x, const Variable& gamma, const Variable& beta,
                         const Tensor& running_mean, const Tensor& running_var, double momentum,
                         double eps, bool relu, const AllReduceSum& all_reduce_sum) {
  const Tensor in = x.data().contiguous(), scale = gamma.data();
  MN_CHECK(in.dim() == 4, "sync_batch_norm: expected (N, C, H, W), got ", shape_str(in.shape()));
  const int64_t C = in.size(1);
  const Shape per_channel{1, C, 1, 1};
  // Per-channel sums over every process's (N, H, W), the global count in the last entry. Two
  // rounds (the mean, then squares about it) keep the variance free of cancellation.
  Tensor sums = Tensor::empty({C + 1}, in.dtype(), in.device());
  sums.slice(0, 0, C).copy_(ops::sum(in, {0, 2, 3}));
  sums.slice(0, C, C + 1).fill_(static_cast<double>(in.numel() / std::max<int64_t>(C, 1)));
  all_reduce_sum(sums);
  const double count = sums.slice(0, C, C + 1).item();
  MN_CHECK(count > 1, "sync_batch_norm: training needs more than one value per channel over all processes, got ", count);
  const Tensor mean = ops::scale(sums.slice(0, 0, C), 1.0 / count);
  const Tensor centered = ops::sub(in, mean.reshape(per_channel));
  const Tensor var = ops::sum(ops::mul(centered, centered), {0, 2, 3});  // times count, so far
  all_reduce_sum(var);
  const Tensor var_biased = ops::scale(var, 1.0 / count);
  // Normalising with given statistics is what batch norm does in eval: its kernel, fused ReLU
  // and all. The running statistics follow PyTorch's update with the global batch.
  ops::BatchNormOutput r = ops::batchnorm_forward(in, scale, beta.data(), mean, var_biased, false, 0, eps, relu);
  running_mean.copy_(ops::add(ops::scale(running_mean, 1 - momentum), ops::scale(mean, momentum)));
  running_var.copy_(ops::add(ops::scale(running_var, 1 - momentum),
                             ops::scale(var, momentum / (count - 1))));
  return Variable::make(
      r.y, relu ? "sync_batch_norm_relu" : "sync_batch_norm", {x, gamma, beta},
      [in, mean, scale, invstd = r.save_invstd, per_channel, count, all_reduce_sum,
       y = relu ? r.y : Tensor()](const Tensor& dy) {
        const int64_t C = per_channel[1];
        const Tensor g = y.defined() ? ops::binary(BinaryOp::relu_backward, dy, y) : dy;
        const Tensor centered = ops::sub(in, mean.reshape(per_channel));  // not kept: memory
        // This process's sums give the parameter gradients (averaged over the processes with
        // every other gradient); all processes' sums give the input gradient, as the statistics
        // depend on every process's inputs.
        Tensor sums = Tensor::empty({2 * C}, g.dtype(), g.device());
        const Tensor sum_g = sums.slice(0, 0, C), sum_gx = sums.slice(0, C, 2 * C);
        sum_g.copy_(ops::sum(g, {0, 2, 3}));
        sum_gx.copy_(ops::sum(ops::mul(g, centered), {0, 2, 3}));
        const Tensor dbeta = sum_g.clone();
        const Tensor dgamma = ops::mul(sum_gx, invstd);
        all_reduce_sum(sums);
        // dx = k (g - sum(g) / M) - k invstd^2 (x - mean) sum(g (x - mean)) / M, k = gamma invstd
        const Tensor k = ops::mul(scale, invstd);
        const Tensor mean_g = ops::scale(sum_g, 1.0 / count);
        const Tensor mean_gx = ops::scale(ops::mul(ops::mul(sum_gx, invstd), invstd), 1.0 / count);
        Tensor dx = ops::sub(g, mean_g.reshape(per_channel));
        dx = ops::sub(dx, ops::mul(centered, mean_gx.reshape(per_channel)));
        dx = ops::mul(dx, k.reshape(per_channel));
        return std::vector<Tensor>{dx, dgamma, dbeta};
      });
}

}  // namespace mn
