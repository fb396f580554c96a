// The SGD update against torch.optim.SGD over three steps (tests/fixtures/sgd.txt): plain,
// momentum with weight decay, Nesterov, dampening; parameters without a gradient are skipped.
#include <doctest/doctest.h>

#include "tensor/ops.h"
#include "tests/fixtures/fixtures.h"

using namespace mn;
using mn::test::check_close;
using mn::test::tol;

TEST_CASE("sgd matches torch.optim.SGD over three steps") {
  for (const auto& c : test::load_fixture("sgd")) {
    for (DType dt : {DType::f32, DType::f64}) {
      SgdArgs args;
      args.lr = c.param("lr");
      args.momentum = c.param("momentum");
      args.dampening = c.param("dampening");
      args.nesterov = c.iparam("nesterov");
      Tensor param = c.tensor("param", dt);
      Tensor buffer = Tensor::zeros(param.shape(), dt);
      for (int step = 0; step < c.iparam("steps"); ++step) {
        args.first_step = step == 0;
        SgdParam p{param, c.tensor("grad" + std::to_string(step), dt), buffer, c.param("weight_decay")};
        ops::sgd_step({p}, args);
      }
      check_close(param, c.tensor("final"), tol(dt), tol(dt), c.name + " " + dtype_name(dt));
    }
  }
}

TEST_CASE("sgd skips parameters without a gradient and rejects bad input") {
  Tensor p = Tensor::ones({3}), g = Tensor::ones({3});
  SgdArgs args;
  args.lr = 0.5;
  ops::sgd_step({SgdParam{p, Tensor(), Tensor(), 0}}, args);
  CHECK(p.to_vector<float>() == std::vector<float>{1, 1, 1});
  ops::sgd_step({SgdParam{p, g, Tensor(), 0}}, args);
  CHECK(p.to_vector<float>() == std::vector<float>{0.5f, 0.5f, 0.5f});

  Tensor g4 = Tensor::ones({4});
  CHECK_THROWS_WITH_AS(ops::sgd_step({SgdParam{p, g4, Tensor(), 0}}, args),
                       "sgd: parameter 0 (3,) has a gradient of shape (4,)", Error);
  args.momentum = 0.9;
  CHECK_THROWS_WITH_AS(ops::sgd_step({SgdParam{p, g, Tensor::zeros({2}), 0}}, args),
                       "sgd: momentum buffer of parameter 0 (3,) must be contiguous of the same "
                       "shape, got (2,)", Error);
  args.nesterov = true;
  args.dampening = 0.1;
  CHECK_THROWS_WITH_AS(ops::sgd_step({SgdParam{p, g, Tensor::zeros({3}), 0}}, args),
                       "sgd: Nesterov momentum needs momentum > 0 and zero dampening, got momentum "
                       "0.9 and dampening 0.1", Error);
}
