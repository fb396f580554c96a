// softmax / log-softmax autograd: gradchecks (float64), strided and 3-D inputs included.
#include "tests/autograd/nn_ops_helpers.h"

using namespace mn;
using namespace mn::test;

TEST_CASE("gradcheck: softmax and log-softmax") {
  Tensor x = uniform({3, 5}, 4, -3, 3), x3 = uniform({2, 3, 4}, 5, -3, 3);
  check_grad([](const Vars& v) { return softmax(v[0]); }, {x});
  check_grad([](const Vars& v) { return log_softmax(v[0]); }, {x});
  check_grad([](const Vars& v) { return softmax(v[0]); }, {strided(x3)});
  check_grad([](const Vars& v) { return log_softmax(v[0]); }, {x3});
}

TEST_CASE("softmax rejects integer input") {
  Variable x(Tensor::zeros({2, 3}, DType::i64));
  CHECK_THROWS_WITH_AS(log_softmax(x), "log_softmax: input must be float32 or float64, got int64", Error);
}
