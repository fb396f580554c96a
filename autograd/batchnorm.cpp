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
                         double eps, bool relu, const ProcessGroup& group) {
  // In the backend's layout once, for the phases here and in the backward.
  const Tensor in = x.data().contiguous(backend(x.device()).memory_format()), scale = gamma.data();
  MN_CHECK(in.dim() == 4, "sync_batch_norm: expected (N, C, H, W), got ", shape_str(in.shape()));
  const int64_t C = in.size(1);
  // Every process's count, mean and biased variance, gathered (each fills its row of a zeroed
  // table, the sum fills them all) and combined exactly: the global mean is the count-weighted
  // mean, and the global sum of squares about it adds each process's own and its mean's offset.
  const ops::BatchNormStats mine = ops::batchnorm_stats(in);
  const double my_count = static_cast<double>(in.numel() / std::max<int64_t>(C, 1));
  const Tensor table = Tensor::zeros({group.size, 2 * C + 1}, mine.mean.dtype(), in.device());
  const Tensor row = table.slice(0, group.rank, group.rank + 1).reshape({2 * C + 1});
  row.slice(0, 0, C).copy_(mine.mean);
  row.slice(0, C, 2 * C).copy_(mine.var);
  row.slice(0, 2 * C, 2 * C + 1).fill_(my_count);
  group.all_reduce_sum(table);
  // The total count, needed on the host, is summed there: reading it from the table would wait
  // for the device in every layer's forward. Asked after the table's sum is queued, so the two
  // overlap.
  const double count = group.host_sum(my_count);
  const Tensor means = table.slice(1, 0, C), vars = table.slice(1, C, 2 * C),
               counts = table.slice(1, 2 * C, 2 * C + 1);  // (size, C), (size, C), (size, 1)
  MN_CHECK(count > 1, "sync_batch_norm: training needs more than one value per channel over all processes, got ", count);
  const Tensor mean = ops::scale(ops::sum(ops::mul(means, counts), {0}), 1.0 / count);
  const Tensor offset = ops::sub(means, mean.reshape({1, C}));
  const Tensor squares = ops::sum(ops::mul(ops::add(vars, ops::mul(offset, offset)), counts), {0});
  const Tensor var = ops::scale(squares, 1.0 / count);
  // Normalising with given statistics is what batch norm does in eval: its kernel, fused ReLU
  // and all. The running statistics follow PyTorch's update with the global batch.
  ops::BatchNormOutput r = ops::batchnorm_forward(in, scale, beta.data(), mean, var, false, 0, eps, relu);
  running_mean.copy_(ops::add(ops::scale(running_mean, 1 - momentum), ops::scale(mean, momentum)));
  running_var.copy_(ops::add(ops::scale(running_var, 1 - momentum),
                             ops::scale(squares, momentum / (count - 1))));
  return Variable::make(
      r.y, relu ? "sync_batch_norm_relu" : "sync_batch_norm", {x, gamma, beta},
      [in, mean, scale, invstd = r.save_invstd, count, group, y = relu ? r.y : Tensor()](const Tensor& dy) {
        // This process's sums give the parameter gradients (averaged over the processes with
        // every other gradient); all processes' sums give the input gradient, as the statistics
        // depend on every process's inputs.
        const ops::BatchNormSums local = ops::batchnorm_backward_reduce(dy, in, y, mean);
        const int64_t C = mean.numel();
        const Tensor both = Tensor::empty({2 * C}, local.sum_g.dtype(), local.sum_g.device());
        both.slice(0, 0, C).copy_(local.sum_g);
        both.slice(0, C, 2 * C).copy_(local.sum_gx);
        group.all_reduce_sum(both);
        const Tensor dx = ops::batchnorm_backward_apply(dy, in, y, mean, invstd, scale,
                                                        {both.slice(0, 0, C), both.slice(0, C, 2 * C)}, count);
        return std::vector<Tensor>{dx, ops::mul(local.sum_gx, invstd), local.sum_g};
      });
}

}  // namespace mn
