// batch_norm kernels against PyTorch goldens (tests/fixtures/batchnorm.txt): training (batch
// statistics, running-stat update with unbiased variance) and eval, forward and backward, float32
// and float64; running statistics updated through prefix views; bad shapes rejected.
#include <doctest/doctest.h>

#include <cmath>

#include "tensor/ops.h"
#include "tests/fixtures/fixtures.h"

using namespace mn;
using mn::test::check_close;
using mn::test::tol;

TEST_CASE("batch_norm matches PyTorch in training and eval") {
  for (const auto& c : test::load_fixture("batchnorm")) {
    for (DType dt : {DType::f32, DType::f64}) {
      const std::string what = c.name + " " + dtype_name(dt);
      const bool training = c.iparam("training");
      Tensor rm = c.tensor("running_mean", dt), rv = c.tensor("running_var", dt);
      auto out = ops::batchnorm_forward(c.tensor("x", dt), c.tensor("gamma", dt),
                                        c.tensor("beta", dt), rm, rv, training,
                                        c.param("momentum"), c.param("eps"));
      check_close(out.y, c.tensor("y"), tol(dt), tol(dt), what + " y");
      check_close(rm, c.tensor("new_running_mean"), tol(dt), tol(dt), what + " running_mean");
      check_close(rv, c.tensor("new_running_var"), tol(dt), tol(dt), what + " running_var");
      auto g = ops::batchnorm_backward(c.tensor("dy", dt), c.tensor("x", dt), c.tensor("gamma", dt),
                                       out.save_mean, out.save_invstd, training);
      // dx sums many terms that cancel: a looser tolerance in float32
      const double t = dt == DType::f32 ? 1e-4 : tol(dt);
      check_close(g.dx, c.tensor("dx"), t, t, what + " dx");
      check_close(g.dgamma, c.tensor("dgamma"), t, t, what + " dgamma");
      check_close(g.dbeta, c.tensor("dbeta"), t, t, what + " dbeta");
    }
  }
}

TEST_CASE("batch_norm updates prefix views of full-width running statistics in place") {
  const auto cases = test::load_fixture("batchnorm");
  const auto& c = cases.front();
  const int64_t C = c.shape("gamma")[0];
  Tensor full_mean = Tensor::full({C + 3}, 7.0, DType::f64), full_var = Tensor::full({C + 3}, 9.0, DType::f64);
  Tensor rm = full_mean.slice(0, 0, C), rv = full_var.slice(0, 0, C);
  rm.copy_(c.tensor("running_mean"));
  rv.copy_(c.tensor("running_var"));
  ops::batchnorm_forward(c.tensor("x"), c.tensor("gamma"), c.tensor("beta"), rm, rv, true,
                         c.param("momentum"), c.param("eps"));
  check_close(rm, c.tensor("new_running_mean"), 1e-12, 1e-12, "mean prefix");
  check_close(rv, c.tensor("new_running_var"), 1e-12, 1e-12, "var prefix");
  CHECK(full_mean.slice(0, C, C + 3).to_vector<double>() == std::vector<double>{7, 7, 7});
  CHECK(full_var.slice(0, C, C + 3).to_vector<double>() == std::vector<double>{9, 9, 9});
}

TEST_CASE("batch_norm with momentum 1 / (k + 1) keeps the cumulative average of batch statistics") {
  // BN recalibration's cumulative average is the momentum update with momentum 1 / (k + 1).
  Tensor gamma = Tensor::ones({2}, DType::f64), beta = Tensor::zeros({2}, DType::f64);
  Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
  for (int k = 0; k < 3; ++k) {
    Tensor x = Tensor::full({2, 2, 1, 2}, k + 1.0, DType::f64);  // batch mean k + 1 in each channel
    ops::batchnorm_forward(x, gamma, beta, rm, rv, true, 1.0 / (k + 1), 1e-5);
  }
  CHECK(rm.to_vector<double>()[0] == doctest::Approx(2.0));  // (1 + 2 + 3) / 3
  CHECK(rv.to_vector<double>()[1] == doctest::Approx(0.0));
}

TEST_CASE("batch_norm keeps float32 statistics exact when the mean is far from zero") {
  // Values 10000 + k/8 (k = 0..4095 per channel): mean and variance known in closed form, a mean
  // whose square is 5000 times the variance: float32 accumulation of E[x^2] - E[x]^2 would lose it.
  const int64_t N = 16, C = 2, S = 256, M = N * S;
  std::vector<float> v(N * C * S);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) v[(n * C + c) * S + s] = 10000.0f + float((n * S + s) % M) / 8;
  Tensor x = Tensor::from_vector(v, {N, C, 16, 16});
  Tensor rm = Tensor::zeros({C}), rv = Tensor::zeros({C});
  ops::BatchNormOutput o = ops::batchnorm_forward(x, Tensor::full({C}, 1.0), Tensor::zeros({C}), rm,
                                                  rv, true, 1.0, 1e-12);
  const double mean = 10000 + (M - 1) / 16.0, var = (double(M) * M - 1) / 12 / 64;
  for (int64_t c = 0; c < C; ++c) {
    CHECK(o.save_mean.to_vector<float>()[c] == doctest::Approx(mean).epsilon(1e-7));
    CHECK(rv.to_vector<float>()[c] == doctest::Approx(var * M / (M - 1)).epsilon(1e-6));
    CHECK(o.save_invstd.to_vector<float>()[c] == doctest::Approx(1 / std::sqrt(var)).epsilon(1e-6));
  }
}

TEST_CASE("batch_norm rejects bad shapes") {
  Tensor x = Tensor::zeros({2, 3, 4, 4}), c3 = Tensor::ones({3}), c4 = Tensor::ones({4});
  CHECK_THROWS_WITH_AS(ops::batchnorm_forward(x, c4, c3, c3, c3, true, 0.1, 1e-5),
                       "batch_norm: weight has shape (4,), expected (3,)", Error);
  CHECK_THROWS_WITH_AS(ops::batchnorm_forward(x, c3, c3, c4, c3, true, 0.1, 1e-5),
                       "batch_norm: running_mean has shape (4,), expected (3,)", Error);
  Tensor x3 = Tensor::zeros({2, 3, 4});
  CHECK_THROWS_WITH_AS(ops::batchnorm_forward(x3, c3, c3, c3, c3, true, 0.1, 1e-5),
                       "batch_norm: input must be 4-D (N, C, H, W), got (2, 3, 4)", Error);
  Tensor one = Tensor::zeros({1, 3, 1, 1});
  CHECK_THROWS_WITH_AS(ops::batchnorm_forward(one, c3, c3, c3, c3, true, 0.1, 1e-5),
                       "batch_norm: training needs more than one value per channel, got input "
                       "(1, 3, 1, 1)", Error);
  Tensor c3d = Tensor::ones({3}, DType::f64);
  CHECK_THROWS_WITH_AS(ops::batchnorm_forward(x, c3d, c3, c3, c3, true, 0.1, 1e-5),
                       "batch_norm: weight is float64 for a float32 input, expected float32", Error);
  Tensor strided = Tensor::ones({6}).as_strided({3}, {2}, 0);
  CHECK_THROWS_WITH_AS(ops::batchnorm_forward(x, c3, c3, c3, strided, true, 0.1, 1e-5),
                       "batch_norm: running_var must be unit-stride to be updated in place, got "
                       "stride 2", Error);
  Tensor dy = Tensor::zeros({2, 3, 4, 5});
  CHECK_THROWS_WITH_AS(ops::batchnorm_backward(dy, x, c3, c3, c3, true),
                       "batch_norm backward: output gradient has shape (2, 3, 4, 5), expected "
                       "(2, 3, 4, 4)", Error);
}
