// Gradchecks of the remaining neural-network ops (pooling, bilinear resize, padding, softmax,
// losses, dropout), strided inputs included, and their autograd-level behaviour: the KL teacher
// gets no gradient, dropout keeps the expected value and is the identity in eval.
#include "tests/autograd/nn_ops_helpers.h"

using namespace mn;
using namespace mn::test;

TEST_CASE("gradcheck: pooling") {
  Tensor x = uniform({2, 2, 5, 6}, 1);
  check_grad([](const Vars& v) { return max_pool2d(v[0], Pool2dArgs{3, 3, 2, 2, 1, 1}); }, {x});
  check_grad([](const Vars& v) { return max_pool2d(v[0], Pool2dArgs{2, 2, 2, 2, 0, 0}); }, {strided(x)});
  check_grad([](const Vars& v) { return avg_pool2d(v[0], Pool2dArgs{3, 3, 2, 2, 1, 1}); }, {x});
  check_grad([](const Vars& v) { return avg_pool2d(v[0], Pool2dArgs{2, 3, 1, 2, 1, 0}); }, {strided(x)});
  check_grad([](const Vars& v) { return adaptive_avg_pool2d(v[0], 3, 4); }, {x});
  check_grad([](const Vars& v) { return adaptive_avg_pool2d(v[0], 1, 1); }, {x});
  check_grad([](const Vars& v) { return adaptive_avg_pool2d(v[0], 7, 8); }, {strided(x)});
}

TEST_CASE("gradcheck: bilinear resize, both corner alignments, up and down") {
  Tensor x = uniform({1, 2, 5, 4}, 2);
  for (bool align : {true, false}) {
    INFO("align_corners ", align);
    check_grad([=](const Vars& v) { return resize_bilinear(v[0], 8, 7, align); }, {x});
    check_grad([=](const Vars& v) { return resize_bilinear(v[0], 3, 2, align); }, {strided(x)});
    check_grad([=](const Vars& v) { return resize_bilinear(v[0], 1, 3, align); }, {x});
  }
}

TEST_CASE("gradcheck: zero and reflect padding") {
  Tensor x = uniform({2, 2, 4, 5}, 3);
  check_grad([](const Vars& v) { return pad2d(v[0], Pad2d{1, 2, 0, 3}, PadMode::zero); }, {x});
  check_grad([](const Vars& v) { return pad2d(v[0], Pad2d{2, 4, 3, 1}, PadMode::reflect); }, {x});
  check_grad([](const Vars& v) { return pad2d(v[0], Pad2d{1, 1, 1, 1}, PadMode::reflect); }, {strided(x)});
}

TEST_CASE("gradcheck: softmax and log-softmax") {
  Tensor x = uniform({3, 5}, 4, -3, 3), x3 = uniform({2, 3, 4}, 5, -3, 3);
  check_grad([](const Vars& v) { return softmax(v[0]); }, {x});
  check_grad([](const Vars& v) { return log_softmax(v[0]); }, {x});
  check_grad([](const Vars& v) { return softmax(v[0]); }, {strided(x3)});
  check_grad([](const Vars& v) { return log_softmax(v[0]); }, {x3});
}

TEST_CASE("gradcheck: cross-entropy with label smoothing and KL divergence") {
  Tensor logits = uniform({4, 5}, 6, -2, 2);
  Tensor labels = Tensor::from_vector<int64_t>({1, 0, 4, 1}, {4});
  for (double eps : {0.0, 0.1}) {
    INFO("smoothing ", eps);
    check_grad([&](const Vars& v) { return cross_entropy(v[0], labels, eps); }, {logits});
  }
  check_grad([&](const Vars& v) { return cross_entropy(v[0], labels, 0.2); }, {uniform({5, 4}, 7).transpose(0, 1)});
  Tensor teacher = uniform({4, 5}, 8, -2, 2);
  check_grad([&](const Vars& v) { return kl_div(v[0], teacher); }, {logits});
  check_grad([&](const Vars& v) { return kl_div(v[0], teacher); }, {uniform({5, 4}, 9).transpose(0, 1)});
}

TEST_CASE("kl_div: the teacher is detached and the loss is zero at the teacher") {
  Tensor t = uniform({3, 4}, 10);
  Variable teacher(t, true), student(t.clone(), true);
  Variable loss = kl_div(student, teacher.detach().data());
  CHECK(loss.data().item() == doctest::Approx(0.0).epsilon(1e-12));
  loss.backward();
  CHECK(student.grad().defined());
  CHECK(!teacher.grad().defined());
}

TEST_CASE("gradcheck: dropout with a fixed mask") {
  Tensor x = uniform({3, 4}, 11);
  check_grad([](const Vars& v) { Generator g(5); return dropout(v[0], 0.3, true, g); }, {x});
}

TEST_CASE("dropout: inverted scaling, seeded masks, identity in eval") {
  Tensor x = Tensor::ones({100, 100}, DType::f64);
  Generator g1(42), g2(42);
  Variable y = dropout(Variable(x), 0.25, true, g1);
  const auto v = y.data().to_vector<double>();
  int64_t kept = 0;
  for (double e : v) {
    CHECK((e == 0.0 || e == doctest::Approx(1 / 0.75)));
    kept += e != 0.0;
  }
  CHECK(kept > 7300);  // expect 7500 of 10000 kept; +-2% is > 4 sigma
  CHECK(kept < 7700);
  CHECK(dropout(Variable(x), 0.25, true, g2).data().to_vector<double>() == v);
  CHECK(dropout(Variable(x), 0.25, false, g1).data().to_vector<double>() == x.to_vector<double>());
  CHECK(dropout(Variable(x), 1.0, true, g1).data().to_vector<double>() == std::vector<double>(10000, 0.0));
  CHECK_THROWS_WITH_AS(dropout(Variable(x), 1.5, true, g1),
                       "dropout: probability must be in [0, 1], got 1.5", Error);
}
