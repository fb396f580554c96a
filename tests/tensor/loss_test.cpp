// Losses against PyTorch goldens (tests/fixtures/loss.txt): cross-entropy with and without label
// smoothing, and the MutualNet distillation loss F.kl_div(log_softmax(student), softmax(teacher),
// 'batchmean'), values and gradients in float32 and float64; bad labels and shapes rejected.
#include <doctest/doctest.h>

#include "tensor/ops.h"
#include "tests/fixtures/fixtures.h"

using namespace mn;
using mn::test::check_close;
using mn::test::tol;

TEST_CASE("cross-entropy and KL divergence match PyTorch") {
  for (const auto& c : test::load_fixture("loss")) {
    for (DType dt : {DType::f32, DType::f64}) {
      const std::string what = c.name + " " + dtype_name(dt);
      Tensor dloss = Tensor::scalar(c.param("dloss"), dt);
      if (c.has("labels")) {
        Tensor labels = c.tensor("labels", DType::i64);
        const double eps = c.param("smoothing");
        auto out = ops::cross_entropy_forward(c.tensor("logits", dt), labels, eps);
        CHECK(out.loss.numel() == 1);
        check_close(out.loss.reshape({1}), c.tensor("loss"), tol(dt), tol(dt), what + " loss");
        check_close(ops::cross_entropy_backward(out.probs, labels, eps, dloss), c.tensor("dlogits"),
                    tol(dt), tol(dt), what + " dlogits");
      } else {
        auto out = ops::kl_div_forward(c.tensor("student", dt), c.tensor("teacher", dt));
        check_close(out.loss.reshape({1}), c.tensor("loss"), tol(dt), tol(dt), what + " loss");
        check_close(ops::kl_div_backward(out.probs, out.target, dloss), c.tensor("dstudent"),
                    tol(dt), tol(dt), what + " dstudent");
      }
    }
  }
}

TEST_CASE("KL divergence of a distribution with itself is zero") {
  Tensor t = Tensor::arange(8).to(DType::f64).view({2, 4});
  CHECK(ops::kl_div_forward(t, t).loss.item() == doctest::Approx(0.0).epsilon(1e-12));
}

TEST_CASE("losses reject bad labels and shapes") {
  Tensor logits = Tensor::zeros({3, 5});
  Tensor labels = Tensor::from_vector<int64_t>({0, 5, 1}, {3});
  CHECK_THROWS_WITH_AS(ops::cross_entropy_forward(logits, labels, 0),
                       "cross_entropy: label 5 of sample 1 is out of range for 5 classes", Error);
  Tensor short_labels = Tensor::from_vector<int64_t>({0, 1}, {2});
  CHECK_THROWS_WITH_AS(ops::cross_entropy_forward(logits, short_labels, 0),
                       "cross_entropy: labels (2,) do not match logits (3, 5)", Error);
  Tensor float_labels = Tensor::zeros({3});
  CHECK_THROWS_WITH_AS(ops::cross_entropy_forward(logits, float_labels, 0),
                       "cross_entropy: labels must be int64, got float32", Error);
  Tensor ok_labels = Tensor::from_vector<int64_t>({0, 1, 2}, {3});
  CHECK_THROWS_WITH_AS(ops::cross_entropy_forward(logits, ok_labels, 1.5),
                       "cross_entropy: label smoothing must be in [0, 1], got 1.5", Error);
  Tensor flat = Tensor::zeros({15});
  CHECK_THROWS_WITH_AS(ops::cross_entropy_forward(flat, ok_labels, 0),
                       "cross_entropy: logits must be (N, classes) with N, classes >= 1, got (15,)",
                       Error);
  Tensor teacher = Tensor::zeros({3, 4});
  CHECK_THROWS_WITH_AS(ops::kl_div_forward(logits, teacher),
                       "kl_div: teacher logits has shape (3, 4), expected (3, 5)", Error);
}
