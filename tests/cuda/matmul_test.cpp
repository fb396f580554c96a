// cuBLAS GEMM against the CPU (OpenBLAS): plain, transposed operands, a width-sliced weight read
// through its leading dimension as the linear layer does (x @ W[:o, :i]^T), accumulation into a
// strided output with beta.
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

TEST_CASE("cuda: matmul matches the CPU, including sliced and transposed operands") {
  if (!test::gpu_or_skip()) return;
  Tensor a = test::normal_tensor({37, 64}, 41), b = test::normal_tensor({64, 29}, 42);
  test::check_gpu_close_scaled(ops::matmul(a.to(gpu()), b.to(gpu())), ops::matmul(a, b), 1e-5, "a @ b");
  Tensor at = test::normal_tensor({64, 37}, 43);
  test::check_gpu_close_scaled(ops::matmul(at.to(gpu()).transpose(0, 1), b.to(gpu())),
                               ops::matmul(at.transpose(0, 1), b), 1e-5, "a^T @ b");
  // Linear layer at width 0.75: x (batch, 48) @ W[:100, :48]^T with W (100, 64) full width.
  Tensor w = test::normal_tensor({100, 64}, 44), x = test::normal_tensor({128, 48}, 45);
  Tensor w_slice_cpu = w.slice(1, 0, 48), w_slice_gpu = w.to(gpu()).slice(1, 0, 48);
  test::check_gpu_close_scaled(ops::matmul(x.to(gpu()), w_slice_gpu.transpose(0, 1)),
                               ops::matmul(x, w_slice_cpu.transpose(0, 1)), 1e-5, "x @ W[:, :48]^T");
  // Its weight gradient written into the slice of the full gradient: dW[:, :48] += dy^T @ x.
  Tensor dy = test::normal_tensor({128, 100}, 46);
  Tensor dw_cpu = test::normal_tensor({100, 64}, 47), dw_gpu = dw_cpu.to(gpu());
  ops::matmul_into(dw_cpu.slice(1, 0, 48), dy.transpose(0, 1), x, 1.0, 1.0);
  ops::matmul_into(dw_gpu.slice(1, 0, 48), dy.to(gpu()).transpose(0, 1), x.to(gpu()), 1.0, 1.0);
  test::check_gpu_close_scaled(dw_gpu, dw_cpu, 1e-5, "dW[:, :48] += dy^T x (untouched columns too)");
  Tensor d = Tensor::ones({2, 2}, DType::f64, gpu());
  CHECK_THROWS_WITH_AS(ops::matmul(d, d), doctest::Contains("float64"), Error);
}
