// Elementwise ops: broadcasting, strided operands, every op against known values.
#include <doctest/doctest.h>

#include <cmath>

#include "tensor/ops.h"

using namespace mn;

TEST_CASE("binary ops broadcast like NumPy") {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector<float>({10, 20, 30}, {3});
  Tensor col = Tensor::from_vector<float>({1, 2}, {2, 1});
  CHECK(ops::add(a, b).to_vector<float>() == std::vector<float>{11, 22, 33, 14, 25, 36});
  CHECK(ops::sub(a, col).to_vector<float>() == std::vector<float>{0, 1, 2, 2, 3, 4});
  CHECK(ops::mul(col, b).shape() == Shape{2, 3});
  CHECK(ops::mul(col, b).to_vector<float>() == std::vector<float>{10, 20, 30, 20, 40, 60});
  CHECK(ops::div(a, col).to_vector<float>() == std::vector<float>{1, 2, 3, 2, 2.5, 3});
  CHECK(ops::maximum(a, Tensor::scalar(3.5)).to_vector<float>() == std::vector<float>{3.5, 3.5, 3.5, 4, 5, 6});
  CHECK(ops::minimum(a, Tensor::scalar(2)).to_vector<float>() == std::vector<float>{1, 2, 2, 2, 2, 2});
  CHECK(ops::gt(a, Tensor::scalar(3)).to_vector<float>() == std::vector<float>{0, 0, 0, 1, 1, 1});
  CHECK(ops::le(a, Tensor::scalar(3)).to_vector<float>() == std::vector<float>{1, 1, 1, 0, 0, 0});
  CHECK(ops::eq(a, Tensor::scalar(2)).to_vector<float>() == std::vector<float>{0, 1, 0, 0, 0, 0});
  CHECK(ops::ne(a, Tensor::scalar(2)).to_vector<float>() == std::vector<float>{1, 0, 1, 1, 1, 1});
  CHECK(ops::lt(a, Tensor::scalar(2)).to_vector<float>() == std::vector<float>{1, 0, 0, 0, 0, 0});
  CHECK(ops::ge(a, Tensor::scalar(6)).to_vector<float>() == std::vector<float>{0, 0, 0, 0, 0, 1});
}

TEST_CASE("strided operands and in-place ops") {
  Tensor a = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor t = a.transpose(0, 1);  // (3, 2): [[1,4],[2,5],[3,6]]
  CHECK(ops::mul(t, t).to_vector<double>() == std::vector<double>{1, 16, 4, 25, 9, 36});
  Tensor big = Tensor::zeros({4, 5}, DType::f64);
  ops::add_(big.slice(0, 1, 3).slice(1, 2, 5), a);
  std::vector<double> v = big.to_vector<double>();
  CHECK(v[1 * 5 + 2] == 1);
  CHECK(v[2 * 5 + 4] == 6);
  CHECK(v[0] == 0);
  CHECK_THROWS_WITH_AS(ops::add_(a.slice(0, 0, 1), a), doctest::Contains("does not fit the destination (1, 3)"), Error);
}

TEST_CASE("large tensors take the multi-threaded path and agree with the serial one") {
  Tensor x = Tensor::empty({300, 257});
  Generator g(3);
  ops::normal_(x, 0, 1, g);
  Tensor y = ops::add(x.transpose(0, 1), Tensor::scalar(1.0f));  // strided, 77k elements
  auto xv = x.to_vector<float>(), yv = y.to_vector<float>();
  CHECK(yv[5 * 300 + 7] == xv[7 * 257 + 5] + 1.0f);
  CHECK(yv[256 * 300 + 299] == xv[299 * 257 + 256] + 1.0f);
}

TEST_CASE("unary ops") {
  Tensor x = Tensor::from_vector<double>({-2, -0.5, 0.25, 4, 7}, {5});
  CHECK(ops::neg(x).to_vector<double>() == std::vector<double>{2, 0.5, -0.25, -4, -7});
  CHECK(ops::relu(x).to_vector<double>() == std::vector<double>{0, 0, 0.25, 4, 7});
  CHECK(ops::relu6(x).to_vector<double>() == std::vector<double>{0, 0, 0.25, 4, 6});
  CHECK(ops::abs(x).to_vector<double>() == std::vector<double>{2, 0.5, 0.25, 4, 7});
  CHECK(ops::clamp(x, -1, 1).to_vector<double>() == std::vector<double>{-1, -0.5, 0.25, 1, 1});
  CHECK(ops::scale(x, 2).to_vector<double>() == std::vector<double>{-4, -1, 0.5, 8, 14});
  CHECK(ops::add_scalar(x, 1).to_vector<double>() == std::vector<double>{-1, 0.5, 1.25, 5, 8});
  Tensor p = Tensor::from_vector<double>({0.25, 4}, {2});
  CHECK(ops::sqrt(p).to_vector<double>() == std::vector<double>{0.5, 2});
  CHECK(ops::pow(p, 1.5).to_vector<double>() == std::vector<double>{0.125, 8});
  CHECK(ops::exp(p).to_vector<double>()[1] == doctest::Approx(std::exp(4.0)));
  CHECK(ops::log(p).to_vector<double>()[0] == doctest::Approx(std::log(0.25)));
}

TEST_CASE("relu and relu6 pass NaN through, as PyTorch does") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = Tensor::from_vector<double>({std::nan(""), -1, 8}, {3}).to(dt);
    std::vector<double> r = ops::relu(x).to(DType::f64).to_vector<double>();
    std::vector<double> r6 = ops::relu6(x).to(DType::f64).to_vector<double>();
    CHECK(std::isnan(r[0]));
    CHECK(std::isnan(r6[0]));
    CHECK(r[1] == 0);
    CHECK(r[2] == 8);
    CHECK(r6[2] == 6);
  }
}

TEST_CASE("elementwise misuse is reported with op and shapes") {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4});
  CHECK_THROWS_WITH_AS(ops::add(a, b), "add: shapes (2, 3) and (4,) do not broadcast", Error);
  CHECK_THROWS_WITH_AS(ops::mul(a, Tensor::zeros({3}, DType::f64)), "mul: dtypes differ (float32 vs float64)", Error);
}
