// Dropout autograd: gradcheck with a fixed mask, inverted scaling, seeded masks, identity in eval.
#include "tests/common/test_util.h"

using namespace mn;
using namespace mn::test;

TEST_CASE("gradcheck: dropout with a fixed mask") {
  Tensor x = uniform_tensor({3, 4}, 11, DType::f64);
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
