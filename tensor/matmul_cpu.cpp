// CPU GEMM through OpenBLAS (row-major CBLAS).
#include <cblas.h>

#include "tensor/cpu_backend.h"

namespace mn {

void CpuBackend::gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                      const Tensor& a, int64_t lda, const Tensor& b, int64_t ldb, double beta,
                      const Tensor& c, int64_t ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  if (c.dtype() == DType::f32) {
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, static_cast<float>(alpha), a.data<float>(), lda,
                b.data<float>(), ldb, static_cast<float>(beta), c.data<float>(), ldc);
  } else if (c.dtype() == DType::f64) {
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a.data<double>(), lda, b.data<double>(),
                ldb, beta, c.data<double>(), ldc);
  } else {
    fail("gemm: expects float32 or float64, got ", dtype_name(c.dtype()));
  }
}

}  // namespace mn
