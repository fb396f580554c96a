// Reductions over one or several dims, keepdim, argmax, variance, sum_to.
#include <doctest/doctest.h>

#include "tensor/ops.h"

using namespace mn;

TEST_CASE("sum, mean, max, argmax, var over chosen dims") {
  Tensor x = Tensor::from_vector<double>({1, 5, 3, 4, 2, 6, 0, 9, 8, 7, 1, 2}, {2, 2, 3});
  CHECK(ops::sum(x, {2}).to_vector<double>() == std::vector<double>{9, 12, 17, 10});
  CHECK(ops::sum(x, {0, 2}).to_vector<double>() == std::vector<double>{26, 22});
  CHECK(ops::sum(x, {0, 2}, true).shape() == Shape{1, 2, 1});
  CHECK(ops::sum_all(x).item() == 48);
  CHECK(ops::mean(x, {1}).to_vector<double>() == std::vector<double>{2.5, 3.5, 4.5, 3.5, 5, 5});
  CHECK(ops::max(x, {-1}).to_vector<double>() == std::vector<double>{5, 6, 9, 7});
  CHECK(ops::argmax(x, 2).to_vector<int64_t>() == std::vector<int64_t>{1, 2, 1, 0});
  CHECK(ops::argmax(x, 0).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 1, 1, 0, 0});
  Tensor v = Tensor::from_vector<double>({1, 2, 3, 4}, {4});
  CHECK(ops::var(v, {0}).item() == doctest::Approx(1.25));
  CHECK(ops::var(v, {0}, true).item() == doctest::Approx(5.0 / 3));
  CHECK(ops::reduce(ReduceOp::min, x, {2}).to_vector<double>() == std::vector<double>{1, 2, 0, 1});
}

TEST_CASE("reductions of strided views") {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1);  // (3, 2)
  CHECK(ops::sum(x, {1}).to_vector<float>() == std::vector<float>{5, 7, 9});
  CHECK(ops::sum_to(Tensor::ones({4, 2, 3}), {2, 1}).to_vector<float>() == std::vector<float>{12, 12});
  CHECK(ops::sum_to(Tensor::ones({4, 2, 3}), {3}).to_vector<float>() == std::vector<float>{8, 8, 8});
  CHECK_THROWS_WITH_AS(ops::sum_to(Tensor::ones({4, 2}), {3}), doctest::Contains("cannot reduce (4, 2) to (3,)"), Error);
  CHECK_THROWS_WITH_AS(ops::argmax(x, 5), doctest::Contains("dim 5 out of range"), Error);
}
