// Softmax and log-softmax over the last dim.
#pragma once
#include "tensor/backend.h"

namespace mn::ops {

Tensor softmax_forward(const Tensor& x, bool log);
Tensor softmax_backward(const Tensor& y, const Tensor& dy, bool log);

}  // namespace mn::ops
