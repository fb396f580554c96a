// batch_norm autograd: gradchecks in training (gradient through the batch statistics) and eval,
// with gamma/beta sliced from wider parameters and prefix views of the running statistics.
#include "tests/common/test_util.h"

using namespace mn;
using namespace mn::test;

TEST_CASE("gradcheck: batch_norm in training and eval") {
  Tensor x = uniform_tensor({3, 2, 2, 3}, 1, DType::f64, -2, 3), gamma = uniform_tensor({2}, 2, DType::f64),
         beta = uniform_tensor({2}, 3, DType::f64);
  Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
  for (bool training : {true, false}) {
    INFO("training ", training);
    check_grad([&](const Vars& v) { return batch_norm(v[0], v[1], v[2], rm, rv, training, 0.1, 1e-5); },
               {x, gamma, beta});
  }
}

TEST_CASE("gradcheck: batch_norm fused with the ReLU after it") {
  Tensor x = uniform_tensor({3, 2, 2, 3}, 7, DType::f64, -2, 3), gamma = uniform_tensor({2}, 8, DType::f64),
         beta = uniform_tensor({2}, 9, DType::f64, -0.5, 0.5);
  Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
  for (bool training : {true, false}) {
    INFO("training ", training);
    check_grad([&](const Vars& v) { return batch_norm(v[0], v[1], v[2], rm, rv, training, 0.1, 1e-5, true); },
               {x, gamma, beta});
  }
}

TEST_CASE("gradcheck: batch_norm on a strided input with sliced parameters and statistics") {
  Tensor x = strided(uniform_tensor({4, 3, 2, 2}, 4, DType::f64));
  Tensor gamma = uniform_tensor({5}, 5, DType::f64), beta = uniform_tensor({5}, 6, DType::f64);
  Tensor rm = Tensor::zeros({5}, DType::f64), rv = Tensor::ones({5}, DType::f64);
  check_grad(
      [&](const Vars& v) {
        return batch_norm(v[0], v[1].slice(0, 0, 3), v[2].slice(0, 0, 3), rm.slice(0, 0, 3),
                          rv.slice(0, 0, 3), true, 0.1, 1e-5);
      },
      {x, gamma, beta});
  // the unused tail of the full-width statistics is untouched
  CHECK(rm.to_vector<double>()[3] == 0.0);
  CHECK(rv.to_vector<double>()[4] == 1.0);
}

TEST_CASE("batch_norm rejects parameters of the wrong width") {
  Variable x(Tensor::zeros({2, 3, 2, 2}), true), gamma(Tensor::ones({4}), true), beta(Tensor::zeros({3}), true);
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  CHECK_THROWS_WITH_AS(batch_norm(x, gamma, beta, rm, rv, true, 0.1, 1e-5),
                       "batch_norm: weight has shape (4,), expected (3,)", Error);
}

TEST_CASE("sync_batch_norm in one process is batch_norm in training, forward and backward") {
  const ProcessGroup one_process{0, 1, [](const Tensor&) {}, [](double v) { return v; }};
  for (bool relu : {false, true}) {
    INFO("relu ", relu);
    Tensor x = uniform_tensor({4, 3, 3, 2}, 11, DType::f64, -2, 3), gamma = uniform_tensor({3}, 12, DType::f64),
           beta = uniform_tensor({3}, 13, DType::f64, -0.5, 0.5), dy = uniform_tensor({4, 3, 3, 2}, 14, DType::f64);
    Tensor rm1 = uniform_tensor({3}, 15, DType::f64), rv1 = uniform_tensor({3}, 16, DType::f64, 0.5, 2);
    Tensor rm2 = rm1.clone(), rv2 = rv1.clone();
    Variable xa(x, true), ga(gamma, true), ba(beta, true), xb(x, true), gb(gamma, true), bb(beta, true);
    Variable plain = batch_norm(xa, ga, ba, rm1, rv1, true, 0.1, 1e-5, relu);
    Variable synced = sync_batch_norm(xb, gb, bb, rm2, rv2, 0.1, 1e-5, relu, one_process);
    check_close(synced.data(), plain.data(), 1e-12, 1e-12, "y");
    check_close(rm2, rm1, 1e-12, 1e-12, "running mean");
    check_close(rv2, rv1, 1e-12, 1e-12, "running var");
    plain.backward(dy);
    synced.backward(dy);
    check_close(xb.grad(), xa.grad(), 1e-12, 1e-12, "dx");
    check_close(gb.grad(), ga.grad(), 1e-12, 1e-12, "dgamma");
    check_close(bb.grad(), ba.grad(), 1e-12, 1e-12, "dbeta");
    Tensor rm = Tensor::zeros({3}, DType::f64), rv = Tensor::ones({3}, DType::f64);
    check_grad([&](const Vars& v) { return sync_batch_norm(v[0], v[1], v[2], rm, rv, 0.1, 1e-5, relu, one_process); },
               {x, gamma, beta});
  }
}
