// The tape: gradchecks of the elementwise, reduction, matmul and view ops (strided and broadcast
// inputs included), gradient accumulation into sliced parameters, the hook on finished gradients,
// grad mode, buffer release.
#include "tests/common/test_util.h"

using namespace mn;
using namespace mn::test;

TEST_CASE("gradcheck: binary ops with broadcasting and strided inputs") {
  Tensor a = uniform_tensor({3, 4}, 1, DType::f64), b = uniform_tensor({4}, 2, DType::f64),
         col = uniform_tensor({3, 1}, 3, DType::f64);
  Tensor strided = uniform_tensor({4, 3}, 4, DType::f64).transpose(0, 1);  // (3, 4), non-contiguous
  Tensor pos = uniform_tensor({3, 4}, 5, DType::f64, 0.5, 2);
  check_grad([](const Vars& v) { return v[0] + v[1]; }, {a, b});
  check_grad([](const Vars& v) { return v[0] - v[1]; }, {col, b});
  check_grad([](const Vars& v) { return v[0] * v[1]; }, {strided, col});
  check_grad([](const Vars& v) { return v[0] / v[1]; }, {a, pos});
  check_grad([](const Vars& v) { return v[0] / v[1]; }, {b, col.to(DType::f64).expand({3, 1})});
}

TEST_CASE("gradcheck: unary ops") {
  // Spans relu6's kinks, away from them with this seed.
  Tensor x = uniform_tensor({2, 5}, 6, DType::f64, -3, 8);
  Tensor pos = uniform_tensor({2, 5}, 7, DType::f64, 0.2, 3);
  check_grad([](const Vars& v) { return neg(v[0]); }, {x});
  check_grad([](const Vars& v) { return exp(scale(v[0], 0.3)); }, {x});
  check_grad([](const Vars& v) { return log(v[0]); }, {pos});
  check_grad([](const Vars& v) { return sqrt(v[0]); }, {pos});
  check_grad([](const Vars& v) { return pow(v[0], 2.5); }, {pos});
  check_grad([](const Vars& v) { return relu(v[0]); }, {x});
  check_grad([](const Vars& v) { return relu6(v[0]); }, {x});
  check_grad([](const Vars& v) { return clamp(v[0], -1, 2); }, {x});
  check_grad([](const Vars& v) { return add_scalar(v[0], 3) * 2.0; }, {x});
}

TEST_CASE("gradcheck: reductions") {
  Tensor x = uniform_tensor({3, 4, 5}, 8, DType::f64);
  check_grad([](const Vars& v) { return sum(v[0], {1}); }, {x});
  check_grad([](const Vars& v) { return sum(v[0], {0, 2}, true); }, {x});
  check_grad([](const Vars& v) { return sum(v[0]); }, {x.transpose(0, 2)});
  check_grad([](const Vars& v) { return mean(v[0], {2}); }, {x});
  check_grad([](const Vars& v) { return mean(v[0]); }, {x});
  check_grad([](const Vars& v) { return max(v[0], 1); }, {x});
  check_grad([](const Vars& v) { return max(v[0], -1, true); }, {x});
  check_grad([](const Vars& v) { return var(v[0], {0, 2}); }, {x});
  check_grad([](const Vars& v) { return var(v[0], {1}, true, true); }, {x});
}

TEST_CASE("gradcheck: matmul and linear, with a sliced weight") {
  Tensor a = uniform_tensor({4, 3}, 9, DType::f64), b = uniform_tensor({3, 5}, 10, DType::f64);
  check_grad([](const Vars& v) { return matmul(v[0], v[1]); }, {a, b});
  check_grad([](const Vars& v) { return matmul(v[0], v[1]); },
             {a, uniform_tensor({5, 3}, 11, DType::f64).transpose(0, 1)});
  Tensor x = uniform_tensor({4, 3}, 12, DType::f64), w = uniform_tensor({6, 8}, 13, DType::f64),
         bias = uniform_tensor({6}, 14, DType::f64);
  check_grad(
      [](const Vars& v) { return linear(v[0], v[1].slice(0, 0, 5).slice(1, 0, 3), v[2].slice(0, 0, 5)); },
      {x, w, bias});
  check_grad([](const Vars& v) { return linear(v[0], v[1], std::nullopt); },
             {x, uniform_tensor({2, 3}, 15, DType::f64)});
}

TEST_CASE("gradcheck: views") {
  Tensor x = uniform_tensor({2, 3, 4}, 16, DType::f64);
  check_grad([](const Vars& v) { return v[0].slice(1, 1, 3) * v[0].slice(1, 0, 2); }, {x});
  check_grad([](const Vars& v) { return v[0].permute({2, 0, 1}).reshape({4, 6}); }, {x});
  check_grad([](const Vars& v) { return v[0].transpose(0, 2).contiguous().view({-1}); }, {x});
  check_grad([](const Vars& v) { return v[0].unsqueeze(1).expand({2, 5, 3, 4}); }, {x});
  check_grad([](const Vars& v) { return v[0].slice(0, 0, 1).squeeze(0).flatten(0); }, {x});
  // A view of an intermediate (not a leaf) goes through the generic path.
  check_grad([](const Vars& v) { return (v[0] * 2.0).slice(2, 1, 4).transpose(0, 1); }, {x});
}

TEST_CASE("a sliced parameter's gradient lands in exactly its region, zero elsewhere") {
  Variable w(Tensor::ones({4, 6}, DType::f64), true);
  Variable x(uniform_tensor({2, 3}, 17, DType::f64));
  Variable y = linear(x, w.slice(0, 0, 2).slice(1, 0, 3), std::nullopt);
  sum(y).backward();
  Tensor g = w.grad();
  REQUIRE(g.defined());
  CHECK(g.shape() == Shape{4, 6});
  auto gv = g.to_vector<double>(), xv = x.data().to_vector<double>();
  for (int o = 0; o < 4; ++o)
    for (int i = 0; i < 6; ++i) {
      double expected = (o < 2 && i < 3) ? xv[i] + xv[3 + i] : 0.0;
      CHECK(gv[o * 6 + i] == doctest::Approx(expected));
    }
}

TEST_CASE("sandwich rule in miniature: two widths, two backward passes, gradients add up") {
  // A two-layer net whose hidden width is 4 (full) or 2 (half); both share w1, w2.
  Tensor w1 = uniform_tensor({4, 3}, 18, DType::f64), w2 = uniform_tensor({2, 4}, 19, DType::f64),
         xin = uniform_tensor({5, 3}, 20, DType::f64);
  auto run = [&](const Variable& p1, const Variable& p2, int hidden) {
    Variable h = relu(linear(Variable(xin), p1.slice(0, 0, hidden), std::nullopt));
    return sum(pow(linear(h, p2.slice(1, 0, hidden), std::nullopt), 2));
  };
  Variable p1(w1.clone(), true), p2(w2.clone(), true);
  run(p1, p2, 4).backward();
  run(p1, p2, 2).backward();  // accumulates
  // Each width alone, on fresh parameters.
  Variable f1(w1.clone(), true), f2(w2.clone(), true), h1(w1.clone(), true), h2(w2.clone(), true);
  run(f1, f2, 4).backward();
  run(h1, h2, 2).backward();
  auto sum_v = ops::add(f1.grad(), h1.grad()).to_vector<double>();
  auto got = p1.grad().to_vector<double>();
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(sum_v[i]));
  auto half = h1.grad().to_vector<double>();
  for (size_t i = 2 * 3; i < half.size(); ++i) CHECK(half[i] == 0);  // rows 2..3 unused at half width
  auto sum2 = ops::add(f2.grad(), h2.grad()).to_vector<double>(), got2 = p2.grad().to_vector<double>();
  for (size_t i = 0; i < got2.size(); ++i) CHECK(got2[i] == doctest::Approx(sum2[i]));
}

TEST_CASE("backward's hook sees each leaf once, as soon as its gradient is final: the output side first") {
  Variable p1(uniform_tensor({4, 3}, 21, DType::f64), true), p2(uniform_tensor({2, 4}, 22, DType::f64), true);
  Variable x(uniform_tensor({5, 3}, 23, DType::f64));
  Variable h = relu(linear(x, p1.slice(0, 0, 3), std::nullopt));
  // p1 also right at the loss: its first gradient comes early, its last from the first layer.
  Variable loss = sum(pow(linear(h, p2.slice(1, 0, 3), std::nullopt), 2)) + sum(p1 * p1);
  std::vector<const VariableImpl*> seen;
  std::vector<Tensor> at_hook;
  loss.backward({}, [&](const VariableImpl& leaf) {
    seen.push_back(&leaf);
    at_hook.push_back((&leaf == p1.impl().get() ? p1 : p2).grad().clone());
  });
  REQUIRE(seen == std::vector<const VariableImpl*>{p2.impl().get(), p1.impl().get()});
  check_equal(at_hook[0], p2.grad(), "p2's gradient when the hook saw it");
  check_equal(at_hook[1], p1.grad(), "p1's gradient when the hook saw it");
}

TEST_CASE("grad mode, detach, and the tape's life cycle") {
  Variable w(Tensor::full({3}, 2.0, DType::f64), true);
  {
    NoGradGuard guard;
    Variable y = w * w;
    CHECK_FALSE(y.requires_grad());
  }
  CHECK((w * w).requires_grad());
  CHECK_FALSE((w * w).detach().requires_grad());
  Variable loss = sum(w * w);
  loss.backward();
  CHECK(w.grad().to_vector<double>() == std::vector<double>{4, 4, 4});
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("already used by an earlier backward()"), Error);
  w.zero_grad();
  CHECK_FALSE(w.grad().defined());
  CHECK_THROWS_WITH_AS(Variable(Tensor::zeros({2})).backward(), doctest::Contains("does not require grad"), Error);
  CHECK_THROWS_WITH_AS((w * w).backward(), doctest::Contains("implicit gradient needs a one-element output"), Error);
  CHECK_THROWS_WITH_AS(Variable(Tensor::zeros({2}, DType::i64), true), doctest::Contains("int64 tensor cannot require"), Error);
}

TEST_CASE("saved buffers are released once backward has used them") {
  Variable w(Tensor::full({1000}, 2.0, DType::f64), true);
  Tensor x = Tensor::full({1000}, 3.0, DType::f64);
  std::weak_ptr<Storage> saved = x.storage();
  Variable loss = sum(w * Variable(x));
  x = Tensor();
  CHECK_FALSE(saved.expired());  // the mul node holds it
  loss.backward();
  CHECK(saved.expired());
}
