// CUDA GEMM through cuBLAS. The contract is row-major; cuBLAS is column-major, where a row-major
// (r, c) matrix with leading dimension ld reads as its transpose. So C = op(A) op(B) is computed
// as C^T = op(B)^T op(A)^T: the operands swap places and keep their own transpose flags and
// leading dimensions, which is how a width-sliced weight W[:o, :i] is read in place. bfloat16
// operands (mixed precision) multiply on tensor cores with float32 accumulation (cublasGemmEx,
// CUBLAS_COMPUTE_32F) and a bfloat16 result.
#include <climits>

#include "cuda/common.h"

namespace mn {

void CudaBackend::gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                       const Tensor& a, int64_t lda, const Tensor& b, int64_t ldb, double beta,
                       const Tensor& c, int64_t ldc) {
  MN_CHECK(c.dtype() == DType::f32 || c.dtype() == DType::bf16,
           "gemm: the CUDA backend multiplies float32 or bfloat16, got ", dtype_name(c.dtype()));
  cuda::require_dtype("gemm", c.dtype(), {&a, &b});
  for (int64_t v : {m, n, k, lda, ldb, ldc})
    MN_CHECK(v <= INT_MAX, "gemm: dimension ", v, " exceeds cuBLAS's 32-bit sizes");
  if (m == 0 || n == 0) return;
  const float al = static_cast<float>(alpha), be = static_cast<float>(beta);
  const cuda::Cublas& blas = cuda::cublas();
  if (c.dtype() == DType::bf16) {
    MN_CUBLAS_CHECK(blas.gemm_ex(blas.handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                 trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
                                 static_cast<int>(m), static_cast<int>(k), &al, b.data_ptr(),
                                 CUDA_R_16BF, static_cast<int>(ldb), a.data_ptr(), CUDA_R_16BF,
                                 static_cast<int>(lda), &be, c.data_ptr(), CUDA_R_16BF,
                                 static_cast<int>(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return;
  }
  MN_CUBLAS_CHECK(blas.sgemm(blas.handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                              trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
                              static_cast<int>(m), static_cast<int>(k), &al,
                              static_cast<const float*>(b.data_ptr()), static_cast<int>(ldb),
                              static_cast<const float*>(a.data_ptr()), static_cast<int>(lda), &be,
                              static_cast<float*>(c.data_ptr()), static_cast<int>(ldc)));
}

}  // namespace mn
