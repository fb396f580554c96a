// Argument checks shared by the op dispatchers (tensor/<op>.cpp): each throws an mn::Error that
// names the op, the argument and the offending dtype, device or shape.
#pragma once
#include "tensor/tensor.h"

namespace mn::ops {

inline void check_float(const char* op, const Tensor& t, const char* what) {
  MN_CHECK(t.defined(), op, ": ", what, " is undefined");
  MN_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, op, ": ", what,
           " must be float32 or float64, got ", dtype_name(t.dtype()));
}

// check_float, or bfloat16: the ops that carry activations under CUDA's bf16 precision (conv,
// batch norm, pooling, resize, pad); the CPU kernels refuse bfloat16 with their own message.
inline void check_activation(const char* op, const Tensor& t, const char* what) {
  if (t.defined() && t.dtype() == DType::bf16) return;
  check_float(op, t, what);
}

// Same dtype and device as a reference operand.
inline void check_same(const char* op, const Tensor& a, const char* a_name, const Tensor& b,
                       const char* b_name) {
  MN_CHECK(b.defined(), op, ": ", b_name, " is undefined");
  MN_CHECK(a.dtype() == b.dtype(), op, ": ", a_name, " is ", dtype_name(a.dtype()), " but ",
           b_name, " is ", dtype_name(b.dtype()));
  MN_CHECK(a.device() == b.device(), op, ": ", a_name, " is on ", a.device().str(), " but ",
           b_name, " is on ", b.device().str());
}

inline void check_shape(const char* op, const Tensor& t, const char* what, const Shape& expected) {
  MN_CHECK(t.shape() == expected, op, ": ", what, " has shape ", shape_str(t.shape()),
           ", expected ", shape_str(expected));
}

inline void check_4d(const char* op, const Tensor& t, const char* what) {
  MN_CHECK(t.dim() == 4, op, ": ", what, " must be 4-D (N, C, H, W), got ", shape_str(t.shape()));
}

}  // namespace mn::ops
