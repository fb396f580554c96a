// softmax / log-softmax autograd: gradchecks (float64), strided and 3-D inputs included.
#include "tests/common/test_util.h"

using namespace mn;
using namespace mn::test;

TEST_CASE("gradcheck: softmax and log-softmax") {
  Tensor x = uniform_tensor({3, 5}, 4, DType::f64, -3, 3),
         x3 = uniform_tensor({2, 3, 4}, 5, DType::f64, -3, 3);
  check_grad([](const Vars& v) { return softmax(v[0]); }, {x});
  check_grad([](const Vars& v) { return log_softmax(v[0]); }, {x});
  check_grad([](const Vars& v) { return softmax(v[0]); }, {strided(x3)});
  check_grad([](const Vars& v) { return log_softmax(v[0]); }, {x3});
}

TEST_CASE("softmax rejects integer input") {
  Variable x(Tensor::zeros({2, 3}, DType::i64));
  CHECK_THROWS_WITH_AS(log_softmax(x), "log_softmax: input must be float32 or float64, got int64", Error);
}
