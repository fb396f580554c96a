// Loss autograd: gradchecks (float64) of cross-entropy with label smoothing and of the MutualNet
// KL distillation loss; the teacher receives no gradient; bad input is rejected.
#include "tests/common/test_util.h"

using namespace mn;
using namespace mn::test;

TEST_CASE("gradcheck: cross-entropy with label smoothing and KL divergence") {
  Tensor logits = uniform_tensor({4, 5}, 6, DType::f64, -2, 2);
  Tensor labels = Tensor::from_vector<int64_t>({1, 0, 4, 1}, {4});
  for (double eps : {0.0, 0.1}) {
    INFO("smoothing ", eps);
    check_grad([&](const Vars& v) { return cross_entropy(v[0], labels, eps); }, {logits});
  }
  check_grad([&](const Vars& v) { return cross_entropy(v[0], labels, 0.2); },
             {uniform_tensor({5, 4}, 7, DType::f64).transpose(0, 1)});
  Tensor teacher = uniform_tensor({4, 5}, 8, DType::f64, -2, 2);
  check_grad([&](const Vars& v) { return kl_div(v[0], teacher); }, {logits});
  check_grad([&](const Vars& v) { return kl_div(v[0], teacher); },
             {uniform_tensor({5, 4}, 9, DType::f64).transpose(0, 1)});
}

TEST_CASE("kl_div: the teacher is detached and the loss is zero at the teacher") {
  Tensor t = uniform_tensor({3, 4}, 10, DType::f64);
  Variable teacher(t, true), student(t.clone(), true);
  Variable loss = kl_div(student, teacher.detach().data());
  CHECK(loss.data().item() == doctest::Approx(0.0).epsilon(1e-12));
  loss.backward();
  CHECK(student.grad().defined());
  CHECK(!teacher.grad().defined());
}

TEST_CASE("loss ops reject mismatched labels and teachers") {
  Variable logits(Tensor::zeros({3, 5}), true);
  Tensor labels = Tensor::from_vector<int64_t>({0, 1}, {2});
  CHECK_THROWS_WITH_AS(cross_entropy(logits, labels), "cross_entropy: labels (2,) do not match logits (3, 5)",
                       Error);
  Tensor teacher = Tensor::zeros({3, 4});
  CHECK_THROWS_WITH_AS(kl_div(logits, teacher), "kl_div: teacher logits has shape (3, 4), expected (3, 5)",
                       Error);
}
