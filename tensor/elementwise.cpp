// Elementwise dispatch: shape/dtype/device checks and broadcasting, then the device's kernel.
#include "tensor/elementwise.h"

namespace mn::ops {

static const char* binary_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "max", "min", "eq", "ne",
                                "lt",  "le",  "gt",  "ge",  "relu_backward", "relu6_backward"};
  return names[static_cast<int>(op)];
}

Tensor unary(UnaryOp op, const Tensor& x, double a, double b) {
  MN_CHECK(x.defined(), "unary op on an undefined tensor");
  // Outputs keep a channels-last operand's layout, so a layer's activations stay in it.
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device(), x.memory_format());
  backend(x.device()).unary(op, out, x, a, b);
  return out;
}

static void check_operands(const char* name, const Tensor& a, const Tensor& b) {
  MN_CHECK(a.defined() && b.defined(), name, ": undefined operand");
  MN_CHECK(a.dtype() == b.dtype(), name, ": dtypes differ (", dtype_name(a.dtype()), " vs ",
           dtype_name(b.dtype()), ")");
  MN_CHECK(a.device() == b.device(), name, ": operands on ", a.device().str(), " and ",
           b.device().str());
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  check_operands(name, a, b);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  const Tensor& like = a.shape() == shape ? a : b;  // the operand of the output's shape
  Tensor out = Tensor::empty(shape, a.dtype(), a.device(), like.memory_format());
  backend(a.device()).binary(op, out, a.expand(shape), b.expand(shape));
  return out;
}

void binary_(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  check_operands(name, a, b);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  MN_CHECK(shape == a.shape(), name, "_: in-place result ", shape_str(shape),
           " does not fit the destination ", shape_str(a.shape()));
  backend(a.device()).binary(op, a, a, b.expand(shape));
}

}  // namespace mn::ops
