// Elementwise ops with NumPy broadcasting; results are new contiguous tensors.
#pragma once
#include "tensor/backend.h"

namespace mn::ops {

Tensor unary(UnaryOp op, const Tensor& x, double a = 0, double b = 0);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
// In place: a op= b, b broadcast to a's shape.
void binary_(BinaryOp op, const Tensor& a, const Tensor& b);

inline Tensor neg(const Tensor& x) { return unary(UnaryOp::neg, x); }
inline Tensor exp(const Tensor& x) { return unary(UnaryOp::exp, x); }
inline Tensor log(const Tensor& x) { return unary(UnaryOp::log, x); }
inline Tensor sqrt(const Tensor& x) { return unary(UnaryOp::sqrt, x); }
inline Tensor abs(const Tensor& x) { return unary(UnaryOp::abs, x); }
inline Tensor relu(const Tensor& x) { return unary(UnaryOp::relu, x); }
inline Tensor relu6(const Tensor& x) { return unary(UnaryOp::relu6, x); }
inline Tensor pow(const Tensor& x, double e) { return unary(UnaryOp::pow, x, e); }
inline Tensor clamp(const Tensor& x, double lo, double hi) { return unary(UnaryOp::clamp, x, lo, hi); }
inline Tensor scale(const Tensor& x, double s) { return unary(UnaryOp::affine, x, s, 0); }
inline Tensor add_scalar(const Tensor& x, double s) { return unary(UnaryOp::affine, x, 1, s); }

inline Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::add, a, b); }
inline Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::sub, a, b); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::mul, a, b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::div, a, b); }
inline Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::max, a, b); }
inline Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::min, a, b); }
inline Tensor eq(const Tensor& a, const Tensor& b) { return binary(BinaryOp::eq, a, b); }
inline Tensor ne(const Tensor& a, const Tensor& b) { return binary(BinaryOp::ne, a, b); }
inline Tensor lt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::lt, a, b); }
inline Tensor le(const Tensor& a, const Tensor& b) { return binary(BinaryOp::le, a, b); }
inline Tensor gt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::gt, a, b); }
inline Tensor ge(const Tensor& a, const Tensor& b) { return binary(BinaryOp::ge, a, b); }
inline void add_(const Tensor& a, const Tensor& b) { binary_(BinaryOp::add, a, b); }

}  // namespace mn::ops
