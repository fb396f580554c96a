// Matrix products: resolve each 2-D operand to (transposed?, leading dimension) so strided views
// such as a width slice of a weight go to GEMM without a copy.
#include "tensor/matmul.h"

#include "tensor/elementwise.h"

#include <algorithm>

namespace mn::ops {

namespace {

struct GemmOperand {
  Tensor t;
  bool trans;
  int64_t ld;
};

// Row-major view of a 2-D tensor: unit stride along columns (as is) or rows (transposed);
// anything else is copied to contiguous first.
GemmOperand as_gemm_operand(const Tensor& t) {
  const int64_t rows = t.size(0), cols = t.size(1);
  if (t.stride(1) == 1 || cols == 1) return {t, false, std::max<int64_t>({t.stride(0), cols, 1})};
  if (t.stride(0) == 1 || rows == 1) return {t, true, std::max<int64_t>({t.stride(1), rows, 1})};
  Tensor c = t.contiguous();
  return {c, false, std::max<int64_t>(cols, 1)};
}

}  // namespace

void matmul_into(const Tensor& c, const Tensor& a, const Tensor& b, double alpha, double beta) {
  MN_CHECK(a.dim() == 2 && b.dim() == 2 && c.dim() == 2, "matmul: expects 2-D operands, got ",
           shape_str(a.shape()), " @ ", shape_str(b.shape()));
  MN_CHECK(a.size(1) == b.size(0), "matmul: inner dims differ: ", shape_str(a.shape()), " @ ",
           shape_str(b.shape()));
  MN_CHECK(c.size(0) == a.size(0) && c.size(1) == b.size(1), "matmul: output ",
           shape_str(c.shape()), " does not match ", shape_str(a.shape()), " @ ",
           shape_str(b.shape()));
  MN_CHECK(a.dtype() == b.dtype() && a.dtype() == c.dtype(), "matmul: dtypes differ (",
           dtype_name(a.dtype()), ", ", dtype_name(b.dtype()), ", ", dtype_name(c.dtype()), ")");
  MN_CHECK(is_floating(a.dtype()), "matmul: expects floating tensors, got ", dtype_name(a.dtype()));
  MN_CHECK(a.device() == b.device() && a.device() == c.device(), "matmul: operands on different devices");
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  if (m == 0 || n == 0) return;
  GemmOperand A = as_gemm_operand(a), B = as_gemm_operand(b);
  const bool c_rowmajor = c.stride(1) == 1 || n == 1;
  Tensor C = c_rowmajor ? c : c.contiguous();
  int64_t ldc = std::max<int64_t>({C.stride(0), n, 1});
  if (k == 0) {
    if (beta == 0) C.zero_(); else ops::binary_(BinaryOp::mul, C, Tensor::scalar(beta, C.dtype(), C.device()));
  } else {
    backend(c.device()).gemm(A.trans, B.trans, m, n, k, alpha, A.t, A.ld, B.t, B.ld, beta, C, ldc);
  }
  if (!c_rowmajor) c.copy_(C);
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  MN_CHECK(a.dim() == 2 && b.dim() == 2, "matmul: expects 2-D operands, got ",
           shape_str(a.shape()), " @ ", shape_str(b.shape()));
  Tensor c = Tensor::empty({a.size(0), b.size(1)}, a.dtype(), a.device());
  matmul_into(c, a, b, 1, 0);
  return c;
}

}  // namespace mn::ops
