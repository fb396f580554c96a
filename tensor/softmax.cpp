// softmax / log-softmax dispatch: the last dim is the row, everything before it the batch.
#include "tensor/softmax.h"

#include "tensor/op_checks.h"

namespace mn::ops {

Tensor softmax_forward(const Tensor& x, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  check_float(op, x, "input");
  MN_CHECK(x.dim() >= 1 && x.size(-1) >= 1, op, ": input ", shape_str(x.shape()),
           " has no last dim to normalise over");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (y.numel() == 0) return y;
  const int64_t k = x.size(-1);
  backend(x.device()).softmax_forward(x.contiguous().view({x.numel() / k, k}),
                                      y.view({y.numel() / k, k}), log);
  return y;
}

Tensor softmax_backward(const Tensor& y, const Tensor& dy, bool log) {
  const char* op = log ? "log_softmax backward" : "softmax backward";
  check_float(op, y, "output");
  check_same(op, y, "output", dy, "output gradient");
  check_shape(op, dy, "output gradient", y.shape());
  MN_CHECK(y.dim() >= 1 && y.size(-1) >= 1, op, ": output ", shape_str(y.shape()),
           " has no last dim");
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
  if (dx.numel() == 0) return dx;
  const Shape rows{y.numel() / y.size(-1), y.size(-1)};
  backend(y.device()).softmax_backward(y.contiguous().view(rows), dy.contiguous().view(rows),
                                       dx.view(rows), log);
  return dx;
}

}  // namespace mn::ops
