// softmax / log-softmax against PyTorch goldens (tests/fixtures/softmax.txt), including logits in
// the hundreds (no overflow) and a 3-D input normalised over its last dim.
#include <doctest/doctest.h>

#include "tensor/ops.h"
#include "tests/fixtures/fixtures.h"

using namespace mn;
using mn::test::check_close;
using mn::test::tol;

TEST_CASE("softmax and log-softmax match PyTorch") {
  for (const auto& c : test::load_fixture("softmax")) {
    for (DType dt : {DType::f32, DType::f64}) {
      const std::string what = c.name + " " + dtype_name(dt);
      const bool log = c.iparam("log");
      Tensor y = ops::softmax_forward(c.tensor("x", dt), log);
      check_close(y, c.tensor("y"), tol(dt), tol(dt), what + " y");
      check_close(ops::softmax_backward(y, c.tensor("dy", dt), log), c.tensor("dx"), tol(dt),
                  tol(dt), what + " dx");
    }
  }
}

TEST_CASE("softmax normalises over the last dim of a strided input") {
  Tensor x = Tensor::arange(12).to(DType::f64).view({3, 4}).transpose(0, 1);  // (4, 3)
  Tensor y = ops::softmax_forward(x, false);
  check_close(ops::sum(y, {1}), Tensor::ones({4}, DType::f64), 1e-12, 1e-12, "row sums");
  // row 0 is (0, 4, 8)
  const double z = 1 + std::exp(4.0) + std::exp(8.0);
  CHECK(y.to_vector<double>()[2] == doctest::Approx(std::exp(8.0) / z));
}

TEST_CASE("softmax rejects bad input") {
  Tensor i = Tensor::zeros({2, 3}, DType::i64);
  CHECK_THROWS_WITH_AS(ops::softmax_forward(i, false),
                       "softmax: input must be float32 or float64, got int64", Error);
  Tensor y = Tensor::zeros({2, 3}), dy = Tensor::zeros({3, 2});
  CHECK_THROWS_WITH_AS(ops::softmax_backward(y, dy, true),
                       "log_softmax backward: output gradient has shape (3, 2), expected (2, 3)",
                       Error);
}
