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

TEST_CASE("batch_norm with relu is relu of batch_norm, forward and backward") {
  // The fused op against the two ops it replaces, in training and eval, through prefix views of
  // the per-channel tensors as a sub-network uses them. The CPU fuses them into one pass each way.
  for (DType dt : {DType::f32, DType::f64}) {
    for (bool training : {true, false}) {
      INFO(dtype_name(dt) << (training ? " training" : " eval"));
      const Shape s{6, 5, 7, 7};
      Tensor x = ops::add_scalar(test::normal_tensor(s, 81, dt), 0.3), dy = test::normal_tensor(s, 82, dt);
      Tensor gamma = test::normal_tensor({8}, 83, dt).slice(0, 0, 5), beta = test::normal_tensor({8}, 84, dt).slice(0, 0, 5);
      Tensor rm1 = test::normal_tensor({5}, 85, dt), rv1 = ops::add_scalar(ops::abs(test::normal_tensor({5}, 86, dt)), 0.5);
      Tensor rm2 = rm1.clone(), rv2 = rv1.clone();
      auto plain = ops::batchnorm_forward(x, gamma, beta, rm1, rv1, training, 0.1, 1e-5);
      auto fused = ops::batchnorm_forward(x, gamma, beta, rm2, rv2, training, 0.1, 1e-5, true);
      const Tensor y = ops::relu(plain.y);
      const double t = dt == DType::f32 ? 1e-6 : 1e-13;
      check_close(fused.y, y, t, t, "y");
      check_close(rm2, rm1, 0, 0, "running mean");
      check_close(rv2, rv1, 0, 0, "running var");
      auto g_plain = ops::batchnorm_backward(ops::binary(BinaryOp::relu_backward, dy, y), x, gamma,
                                             plain.save_mean, plain.save_invstd, training);
      auto g_fused = ops::batchnorm_backward(dy, x, gamma, fused.save_mean, fused.save_invstd, training, fused.y);
      check_close(g_fused.dx, g_plain.dx, t, t, "dx");
      check_close(g_fused.dgamma, g_plain.dgamma, t, t, "dgamma");
      check_close(g_fused.dbeta, g_plain.dbeta, t, t, "dbeta");
      const int64_t zeros = static_cast<int64_t>(ops::sum(ops::binary(BinaryOp::eq, fused.y, Tensor::zeros({1}, dt)), {}).item());
      CHECK(zeros > y.numel() / 5);  // the ReLU cut a good share of the values
    }
  }
}

TEST_CASE("batch norm in phases (synchronized batch norm): the CPU kernels and the composed defaults") {
  // The CPU's one-pass kernels against Backend's defaults built from other ops (what CUDA runs),
  // and the phases together against the fused backward when the statistics are this batch's.
  Backend& cpu = backend(Device::cpu());
  for (bool relu : {false, true}) {
    INFO("relu " << relu);
    const Shape s{5, 4, 6, 6};
    Tensor x = ops::add_scalar(test::normal_tensor(s, 101, DType::f64), 2.0), dy = test::normal_tensor(s, 102, DType::f64);
    Tensor gamma = test::normal_tensor({4}, 103, DType::f64), beta = test::normal_tensor({4}, 104, DType::f64);
    Tensor rm = Tensor::zeros({4}, DType::f64), rv = Tensor::ones({4}, DType::f64);
    auto fwd = ops::batchnorm_forward(x, gamma, beta, rm, rv, true, 0.1, 1e-5, relu);
    const Tensor relu_y = relu ? fwd.y : Tensor();

    const ops::BatchNormStats stats = ops::batchnorm_stats(x);
    Tensor mean = Tensor::empty({4}, DType::f64), var = Tensor::empty({4}, DType::f64);
    cpu.Backend::batchnorm_stats(x, mean, var);
    check_close(stats.mean, mean, 1e-12, 1e-12, "mean: kernel and default");
    check_close(stats.var, var, 1e-12, 1e-12, "var: kernel and default");
    check_close(stats.mean, fwd.save_mean, 1e-12, 1e-12, "mean: the forward's");

    const ops::BatchNormSums sums = ops::batchnorm_backward_reduce(dy, x, relu_y, stats.mean);
    Tensor sum_g = Tensor::empty({4}, DType::f64), sum_gx = Tensor::empty({4}, DType::f64);
    cpu.Backend::batchnorm_backward_reduce(dy, x, relu_y, stats.mean, sum_g, sum_gx);
    check_close(sums.sum_g, sum_g, 1e-12, 1e-12, "sum_g: kernel and default");
    check_close(sums.sum_gx, sum_gx, 1e-12, 1e-12, "sum_gx: kernel and default");

    const double count = 5 * 36;
    const Tensor dx = ops::batchnorm_backward_apply(dy, x, relu_y, stats.mean, fwd.save_invstd, gamma, sums, count);
    Tensor dx_default = Tensor::empty(s, DType::f64);
    cpu.Backend::batchnorm_backward_apply(dy, x, relu_y, stats.mean, fwd.save_invstd, gamma, sums.sum_g,
                                          sums.sum_gx, count, dx_default);
    check_close(dx, dx_default, 1e-12, 1e-12, "dx: kernel and default");
    const auto g = ops::batchnorm_backward(dy, x, gamma, fwd.save_mean, fwd.save_invstd, true, relu_y);
    check_close(dx, g.dx, 1e-12, 1e-12, "dx: the fused backward's");
    check_close(sums.sum_g, g.dbeta, 1e-12, 1e-12, "sum_g is dbeta");
  }
}
