// batch_norm dispatch: per-channel operands of shape (C), saved statistics allocated here.
#include "tensor/batchnorm.h"

#include <algorithm>

#include "tensor/op_checks.h"

namespace mn::ops {
namespace {

// Parameters, statistics and their gradients: the input's dtype, but float32 for bfloat16 inputs
// (mixed precision keeps batch-norm statistics and the master parameters in float32).
DType per_channel_dtype(const Tensor& x) { return x.dtype() == DType::bf16 ? DType::f32 : x.dtype(); }

void check_per_channel(const char* op, const Tensor& x, const Tensor& t, const char* what) {
  MN_CHECK(t.defined(), op, ": ", what, " is undefined");
  MN_CHECK(t.dtype() == per_channel_dtype(x), op, ": ", what, " is ", dtype_name(t.dtype()), " for a ",
           dtype_name(x.dtype()), " input, expected ", dtype_name(per_channel_dtype(x)));
  MN_CHECK(t.device() == x.device(), op, ": input is on ", x.device().str(), " but ", what, " is on ",
           t.device().str());
  check_shape(op, t, what, {x.size(1)});
}

// Running statistics are updated in place, so they must be unit-stride (a prefix view is).
void check_stat(const Tensor& x, const Tensor& t, const char* what) {
  check_per_channel("batch_norm", x, t, what);
  MN_CHECK(t.numel() <= 1 || t.stride(0) == 1, "batch_norm: ", what,
           " must be unit-stride to be updated in place, got stride ", t.stride(0));
}

}  // namespace

BatchNormOutput batchnorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  const Tensor& running_mean, const Tensor& running_var,
                                  bool training, double momentum, double eps, bool relu) {
  check_activation("batch_norm", x, "input");
  check_4d("batch_norm", x, "input");
  const int64_t C = x.size(1);
  check_per_channel("batch_norm", x, gamma, "weight");
  check_per_channel("batch_norm", x, beta, "bias");
  check_stat(x, running_mean, "running_mean");
  check_stat(x, running_var, "running_var");
  MN_CHECK(eps > 0, "batch_norm: eps must be positive, got ", eps);
  MN_CHECK(!training || x.numel() / std::max<int64_t>(C, 1) > 1,
           "batch_norm: training needs more than one value per channel, got input ",
           shape_str(x.shape()));
  Backend& be = backend(x.device());
  const MemoryFormat fmt = be.memory_format();
  BatchNormOutput out{Tensor::empty(x.shape(), x.dtype(), x.device(), fmt),
                      Tensor::empty({C}, per_channel_dtype(x), x.device()),
                      Tensor::empty({C}, per_channel_dtype(x), x.device())};
  if (x.numel() == 0) return out;
  if (relu)
    be.batchnorm_relu_forward(x.contiguous(fmt), gamma.contiguous(), beta.contiguous(), running_mean,
                              running_var, training, momentum, eps, out.y, out.save_mean,
                              out.save_invstd);
  else
    be.batchnorm_forward(x.contiguous(fmt), gamma.contiguous(), beta.contiguous(), running_mean,
                         running_var, training, momentum, eps, out.y, out.save_mean,
                         out.save_invstd);
  return out;
}

BatchNormGrads batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                  const Tensor& save_mean, const Tensor& save_invstd,
                                  bool training, const Tensor& relu_y) {
  check_activation("batch_norm backward", x, "input");
  check_4d("batch_norm backward", x, "input");
  const int64_t C = x.size(1);
  check_same("batch_norm backward", x, "input", dy, "output gradient");
  check_shape("batch_norm backward", dy, "output gradient", x.shape());
  if (relu_y.defined()) {
    check_same("batch_norm backward", x, "input", relu_y, "output");
    check_shape("batch_norm backward", relu_y, "output", x.shape());
  }
  for (const Tensor* t : {&gamma, &save_mean, &save_invstd})
    check_per_channel("batch_norm backward", x, *t, "per-channel operand");
  Backend& be = backend(x.device());
  const MemoryFormat fmt = be.memory_format();
  BatchNormGrads g{Tensor::empty(x.shape(), x.dtype(), x.device(), fmt),
                   Tensor::empty({C}, per_channel_dtype(x), x.device()),
                   Tensor::empty({C}, per_channel_dtype(x), x.device())};
  if (x.numel() == 0) {
    g.dgamma.zero_();
    g.dbeta.zero_();
    return g;
  }
  if (relu_y.defined())
    be.batchnorm_relu_backward(dy.contiguous(fmt), x.contiguous(fmt), relu_y.contiguous(fmt),
                               gamma.contiguous(), save_mean.contiguous(),
                               save_invstd.contiguous(), training, g.dx, g.dgamma, g.dbeta);
  else
    be.batchnorm_backward(dy.contiguous(fmt), x.contiguous(fmt), gamma.contiguous(),
                          save_mean.contiguous(), save_invstd.contiguous(), training, g.dx,
                          g.dgamma, g.dbeta);
  return g;
}

BatchNormStats batchnorm_stats(const Tensor& x) {
  check_activation("batch_norm statistics", x, "input");
  check_4d("batch_norm statistics", x, "input");
  BatchNormStats s{Tensor::empty({x.size(1)}, per_channel_dtype(x), x.device()),
                   Tensor::empty({x.size(1)}, per_channel_dtype(x), x.device())};
  MN_CHECK(x.numel() > 0, "batch_norm statistics: empty input ", shape_str(x.shape()));
  Backend& be = backend(x.device());
  be.batchnorm_stats(x.contiguous(be.memory_format()), s.mean, s.var);
  return s;
}

BatchNormSums batchnorm_backward_reduce(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                        const Tensor& mean) {
  check_4d("batch_norm backward", x, "input");
  check_shape("batch_norm backward", dy, "output gradient", x.shape());
  BatchNormSums s{Tensor::empty({x.size(1)}, per_channel_dtype(x), x.device()),
                  Tensor::empty({x.size(1)}, per_channel_dtype(x), x.device())};
  Backend& be = backend(x.device());
  const MemoryFormat fmt = be.memory_format();
  be.batchnorm_backward_reduce(dy.contiguous(fmt), x.contiguous(fmt),
                               relu_y.defined() ? relu_y.contiguous(fmt) : relu_y,
                               mean.contiguous(), s.sum_g, s.sum_gx);
  return s;
}

Tensor batchnorm_backward_apply(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                const Tensor& mean, const Tensor& invstd, const Tensor& gamma,
                                const BatchNormSums& sums, double count) {
  check_shape("batch_norm backward", dy, "output gradient", x.shape());
  Backend& be = backend(x.device());
  const MemoryFormat fmt = be.memory_format();
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), x.device(), fmt);
  be.batchnorm_backward_apply(
      dy.contiguous(fmt), x.contiguous(fmt), relu_y.defined() ? relu_y.contiguous(fmt) : relu_y,
      mean.contiguous(), invstd.contiguous(), gamma.contiguous(), sums.sum_g.contiguous(),
      sums.sum_gx.contiguous(), count, dx);
  return dx;
}

}  // namespace mn::ops
