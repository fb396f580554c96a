// Internal to cuda/'s kernels: the activation element types (float32, and bfloat16 under
// precision = "bf16") and the conversions around them. Kernels templated on T load elements as
// float, compute in float and store rounded to T (round-to-nearest-even for bfloat16); with
// T = float the conversions are the identity, so the float32 kernels are unchanged.
#pragma once
#include <cuda_bf16.h>

#include <type_traits>

#include "cuda/common.h"

namespace mn::cuda {

using bf16 = __nv_bfloat16;

template <class T>
constexpr bool is_bf16 = std::is_same_v<T, bf16>;

template <class T>
__device__ __forceinline__ float load(T v) {
  if constexpr (is_bf16<T>) return __bfloat162float(v);
  else return v;
}

template <class T>
__device__ __forceinline__ T store(float v) {
  if constexpr (is_bf16<T>) return __float2bfloat16(v);
  else return v;
}

// Calls f(T{}) with T = float or bf16 for an activation tensor's dtype; other dtypes are an error
// naming the op.
template <class F>
void dispatch_activation(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::bf16: return f(bf16{});
    default: fail(op, ": the CUDA backend computes in float32 or bfloat16, got ", dtype_name(t));
  }
}

}  // namespace mn::cuda

namespace mn::cuda {

// For the backward kernels that scatter with float atomicAdd (max pooling, bilinear resize,
// reflect padding): calls scatter(float* zeroed) on dx's memory for float32, or on a float32
// scratch rounded into dx once at the end for bfloat16 (bfloat16 atomics would round at every
// addition).
template <class F>
void scatter_in_float(const Tensor& dx, F&& scatter) {
  if (dx.dtype() == DType::f32) {
    MN_CUDA_CHECK(cudaMemsetAsync(dx.data_ptr(), 0, dx.numel() * sizeof(float), stream()));
    scatter(static_cast<float*>(dx.data_ptr()));
    return;
  }
  // In dx's layout: the kernels address both through the same offsets.
  Tensor acc = Tensor::empty(dx.shape(), DType::f32, dx.device(), dx.memory_format());
  acc.zero_();
  scatter(static_cast<float*>(acc.data_ptr()));
  dx.copy_(acc);
}

}  // namespace mn::cuda
