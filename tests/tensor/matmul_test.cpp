// Matrix products, including strided (sliced and transposed) operands read in place.
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "tensor/ops.h"

using namespace mn;

static Tensor naive(const Tensor& a, const Tensor& b) {
  auto av = a.contiguous().to_vector<double>(), bv = b.contiguous().to_vector<double>();
  int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  std::vector<double> c(m * n, 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) c[i * n + j] += av[i * k + p] * bv[p * n + j];
  return Tensor::from_vector(c, {m, n});
}

static double max_diff(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::abs(x[i] - y[i]));
  return d;
}

TEST_CASE("matmul matches a naive product for plain, transposed and sliced operands") {
  Generator g(11);
  Tensor a = Tensor::empty({7, 5}, DType::f64), w = Tensor::empty({9, 6}, DType::f64);
  ops::normal_(a, 0, 1, g);
  ops::normal_(w, 0, 1, g);
  Tensor ws = w.slice(0, 0, 4).slice(1, 0, 5);  // (4, 5), leading dim 6
  CHECK(max_diff(ops::matmul(a, ws.transpose(0, 1)), naive(a, ws.transpose(0, 1))) < 1e-12);
  CHECK(max_diff(ops::matmul(ws, a.transpose(0, 1)), naive(ws, a.transpose(0, 1))) < 1e-12);
  Tensor f = a.to(DType::f32);
  CHECK(max_diff(ops::matmul(f, f.transpose(0, 1)), naive(a, a.transpose(0, 1))) < 1e-4);
}

TEST_CASE("matmul_into accumulates into a strided destination") {
  Tensor a = Tensor::ones({2, 3}), b = Tensor::ones({3, 2});
  Tensor big = Tensor::full({4, 4}, 1.0f);
  ops::matmul_into(big.slice(0, 1, 3).slice(1, 2, 4), a, b, 2.0, 1.0);
  auto v = big.to_vector<float>();
  CHECK(v[1 * 4 + 2] == 7);  // 1 + 2 * 3
  CHECK(v[0] == 1);
  CHECK(v[3 * 4 + 3] == 1);
}

TEST_CASE("matmul shape errors name both shapes") {
  CHECK_THROWS_WITH_AS(ops::matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 2})),
                       "matmul: inner dims differ: (2, 3) @ (4, 2)", Error);
  CHECK_THROWS_WITH_AS(ops::matmul(Tensor::zeros({2, 3, 1}), Tensor::zeros({3, 2})),
                       doctest::Contains("expects 2-D operands"), Error);
  CHECK_THROWS_WITH_AS(ops::matmul(Tensor::zeros({2, 3}, DType::i64), Tensor::zeros({3, 2}, DType::i64)),
                       doctest::Contains("expects floating tensors"), Error);
}

TEST_CASE("CPU matrix products leave cuBLAS unloaded") {
  // A CUDA build loads cuBLAS on its first GPU product, not at startup: loading it (its
  // libcublasLt) costs a process about 210 MB of resident memory, which CPU runs would pay.
  // Nothing in this test binary touches the GPU.
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
  CHECK(ops::matmul(a, a).to_vector<float>() == std::vector<float>{7, 10, 15, 22});
  std::ifstream maps("/proc/self/maps");
  REQUIRE(maps);
  std::string line;
  while (std::getline(maps, line)) CHECK_MESSAGE(line.find("libcublas") == std::string::npos, line);
}
