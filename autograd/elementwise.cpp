// Differentiable elementwise ops. Broadcasting binary ops sum each gradient back to its input's
// shape (the gradient of the implicit expand).
#include "autograd/functions.h"
#include "tensor/elementwise.h"
#include "tensor/reduce.h"

namespace mn {

namespace {

using Grads = std::vector<Tensor>;

Tensor scalar_like(double v, const Tensor& t) { return Tensor::scalar(v, t.dtype(), t.device()); }

}  // namespace

Variable add(const Variable& a, const Variable& b) {
  Shape sa = a.shape(), sb = b.shape();
  return Variable::make(ops::add(a.data(), b.data()), "add", {a, b}, [sa, sb](const Tensor& g) {
    return Grads{ops::sum_to(g, sa), ops::sum_to(g, sb)};
  });
}

Variable sub(const Variable& a, const Variable& b) {
  Shape sa = a.shape(), sb = b.shape();
  return Variable::make(ops::sub(a.data(), b.data()), "sub", {a, b}, [sa, sb](const Tensor& g) {
    return Grads{ops::sum_to(g, sa), ops::sum_to(ops::neg(g), sb)};
  });
}

Variable mul(const Variable& a, const Variable& b) {
  Tensor x = a.data(), y = b.data();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return Variable::make(ops::mul(x, y), "mul", {a, b}, [x, y, ga, gb](const Tensor& g) {
    return Grads{ga ? ops::sum_to(ops::mul(g, y), x.shape()) : Tensor(),
                 gb ? ops::sum_to(ops::mul(g, x), y.shape()) : Tensor()};
  });
}

Variable div(const Variable& a, const Variable& b) {
  Tensor x = a.data(), y = b.data();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return Variable::make(ops::div(x, y), "div", {a, b}, [x, y, ga, gb](const Tensor& g) {
    // d(x/y)/dy = -x / y^2
    Tensor gy = gb ? ops::sum_to(ops::neg(ops::div(ops::mul(g, x), ops::mul(y, y))), y.shape())
                   : Tensor();
    return Grads{ga ? ops::sum_to(ops::div(g, y), x.shape()) : Tensor(), gy};
  });
}

Variable neg(const Variable& x) {
  return Variable::make(ops::neg(x.data()), "neg", {x},
                        [](const Tensor& g) { return Grads{ops::neg(g)}; });
}

Variable exp(const Variable& x) {
  Tensor y = ops::exp(x.data());
  return Variable::make(y, "exp", {x}, [y](const Tensor& g) { return Grads{ops::mul(g, y)}; });
}

Variable log(const Variable& x) {
  Tensor in = x.data();
  return Variable::make(ops::log(in), "log", {x},
                        [in](const Tensor& g) { return Grads{ops::div(g, in)}; });
}

Variable sqrt(const Variable& x) {
  Tensor y = ops::sqrt(x.data());
  return Variable::make(y, "sqrt", {x}, [y](const Tensor& g) {
    return Grads{ops::div(ops::scale(g, 0.5), y)};
  });
}

Variable pow(const Variable& x, double exponent) {
  Tensor in = x.data();
  return Variable::make(ops::pow(in, exponent), "pow", {x}, [in, exponent](const Tensor& g) {
    return Grads{ops::mul(g, ops::scale(ops::pow(in, exponent - 1), exponent))};
  });
}

// relu and relu6 keep their output, not their input, for backward: y > 0 exactly when x > 0 (and
// y < 6 when x < 6), and the output is what the next conv saves anyway, so the batch-norm output
// feeding them is freed after the forward (a third of a pre-activation network's saved memory).
Variable relu(const Variable& x) {
  Tensor out = ops::relu(x.data());
  return Variable::make(out, "relu", {x}, [out](const Tensor& g) {
    return Grads{ops::binary(BinaryOp::relu_backward, g, out)};
  });
}

Variable relu6(const Variable& x) {
  Tensor out = ops::relu6(x.data());
  return Variable::make(out, "relu6", {x}, [out](const Tensor& g) {
    return Grads{ops::binary(BinaryOp::relu6_backward, g, out)};
  });
}

Variable clamp(const Variable& x, double lo, double hi) {
  MN_CHECK(lo <= hi, "clamp: lower bound ", lo, " exceeds upper bound ", hi);
  Tensor in = x.data();
  return Variable::make(ops::clamp(in, lo, hi), "clamp", {x}, [in, lo, hi](const Tensor& g) {
    // Gradient passes where lo <= x <= hi (PyTorch's convention at the bounds).
    Tensor inside = ops::mul(ops::ge(in, scalar_like(lo, in)), ops::le(in, scalar_like(hi, in)));
    return Grads{ops::mul(g, inside)};
  });
}

Variable scale(const Variable& x, double s) {
  return Variable::make(ops::scale(x.data(), s), "scale", {x},
                        [s](const Tensor& g) { return Grads{ops::scale(g, s)}; });
}

Variable add_scalar(const Variable& x, double s) {
  return Variable::make(ops::add_scalar(x.data(), s), "add_scalar", {x},
                        [](const Tensor& g) { return Grads{g}; });
}

}  // namespace mn
