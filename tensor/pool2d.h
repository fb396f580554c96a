// Max, average and adaptive average pooling over NCHW.
#pragma once
#include "tensor/backend.h"

namespace mn::ops {

struct MaxPoolOutput {
  Tensor y, indices;  // indices: i64 flat position within each (n, c) input plane
};
MaxPoolOutput maxpool2d_forward(const Tensor& x, const Pool2dArgs& args);
Tensor maxpool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& x_shape);
Tensor avgpool2d_forward(const Tensor& x, const Pool2dArgs& args);
Tensor avgpool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dArgs& args);
// PyTorch's adaptive bins: [floor(i * H / oh), ceil((i + 1) * H / oh)).
Tensor adaptive_avgpool2d_forward(const Tensor& x, int64_t out_h, int64_t out_w);
Tensor adaptive_avgpool2d_backward(const Tensor& dy, const Shape& x_shape);

}  // namespace mn::ops
