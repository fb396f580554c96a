// Matrix products through the backend's GEMM. 2-D operands may be strided views whose last (or
// first) dim is unit-stride: a width slice W[:o, :i] is read in place through its leading dimension.
#pragma once
#include "tensor/backend.h"

namespace mn::ops {

Tensor matmul(const Tensor& a, const Tensor& b);  // (m, k) @ (k, n) -> (m, n)
// c = alpha * a @ b + beta * c, writing into the (possibly strided) 2-D view c.
void matmul_into(const Tensor& c, const Tensor& a, const Tensor& b, double alpha = 1,
                 double beta = 0);

}  // namespace mn::ops
