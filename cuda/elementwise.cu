// CUDA elementwise kernels: copy (any dtype pair, bf16/f16 included), fill, unary and binary ops over
// any strides (float32, float64, int64, and bfloat16 computed in float32). Broadcast operands arrive expanded (stride 0). The host merges dims that are
// contiguous for every operand, in the output's memory order (so channels-last operands of one
// layout are flat arrays too), and most calls run the contiguous kernels; the rest use a strided
// kernel that decomposes the linear index over at most 8 dims (32-bit index math unless the
// tensor has 2^31 elements or more).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <type_traits>
#include <vector>

#include "cuda/common.h"

namespace mn {

namespace {

constexpr int kMaxDims = 8;
constexpr int kThreads = 256;

// Sizes innermost first; strides in elements, one row per operand.
template <int K>
struct Indexer {
  int ndim = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[K][kMaxDims];
  bool contiguous() const {
    for (int k = 0; k < K; ++k)
      if (ndim == 1 && strides[k][0] != 1) return false;
    return ndim <= 1;
  }
};

// Operand 0 is the output. Dims are walked in its memory order (innermost first), so operands
// that share a dense layout other than NCHW (channels-last) merge into one flat dim too.
template <int K>
Indexer<K> make_indexer(const char* op, const Shape& shape, std::array<const Tensor*, K> ts) {
  Indexer<K> ix;
  std::vector<int> order(shape.size());  // outermost first
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return ts[0]->stride(a) > ts[0]->stride(b); });
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const int d = *it;
    if (shape[d] == 1) continue;
    bool merge = ix.ndim > 0;
    for (int k = 0; k < K && merge; ++k)
      merge = ix.strides[k][ix.ndim - 1] * ix.sizes[ix.ndim - 1] == ts[k]->stride(d);
    if (merge) {
      ix.sizes[ix.ndim - 1] *= shape[d];
      continue;
    }
    MN_CHECK(ix.ndim < kMaxDims, op, ": the CUDA backend handles up to ", kMaxDims,
             " non-mergeable dims, got shape ", shape_str(shape));
    ix.sizes[ix.ndim] = shape[d];
    for (int k = 0; k < K; ++k) ix.strides[k][ix.ndim] = ts[k]->stride(d);
    ++ix.ndim;
  }
  return ix;
}

// Calls f(offsets) for each element, offsets[k] = element offset of operand k.
template <int K, class Index, class F>
__global__ void strided_kernel(Indexer<K> ix, Index n, F f) {
  const Index step = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[K];
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] = 0;
    Index rem = i;
#pragma unroll
    for (int d = 0; d < kMaxDims; ++d) {
      if (d < ix.ndim) {
        const Index size = static_cast<Index>(ix.sizes[d]);
        const Index q = rem / size;
        const int64_t r = static_cast<int64_t>(rem - q * size);
        rem = q;
#pragma unroll
        for (int k = 0; k < K; ++k) off[k] += r * ix.strides[k][d];
      }
    }
    f(off);
  }
}

// Every operand contiguous after merging dims: the offsets are the index itself, no division
// (bfloat16 ops and dtype conversions, which have no vectorised kernel, take this path).
template <int K, class Index, class F>
__global__ void contiguous_kernel(Index n, F f) {
  const Index step = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[K];
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] = static_cast<int64_t>(i);
    f(off);
  }
}

template <int K, class F>
void launch_strided(const Indexer<K>& ix, int64_t n, const F& f) {
  if (n == 0) return;
  if (ix.contiguous()) {
    contiguous_kernel<K, int64_t><<<cuda::grid_for(n, kThreads), kThreads, 0, cuda::stream()>>>(n, f);
    MN_CUDA_LAUNCH_CHECK();
    return;
  }
  if (n < (int64_t{1} << 31))
    strided_kernel<K, uint32_t><<<cuda::grid_for(n, kThreads), kThreads, 0, cuda::stream()>>>(
        ix, static_cast<uint32_t>(n), f);
  else
    strided_kernel<K, int64_t><<<cuda::grid_for(n, kThreads), kThreads, 0, cuda::stream()>>>(ix, n, f);
  MN_CUDA_LAUNCH_CHECK();
}

// ---- dtype conversion -------------------------------------------------------------------------

template <class T>
constexpr bool is_half_type = std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>;

template <class T>
__device__ float to_float(T v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return __bfloat162float(v);
  else if constexpr (std::is_same_v<T, __half>) return __half2float(v);
  else return static_cast<float>(v);
}

template <class D, class S>
__device__ D convert(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<D, __nv_bfloat16>) {
    return __float2bfloat16(to_float(v));
  } else if constexpr (std::is_same_v<D, __half>) {
    return __float2half(to_float(v));
  } else if constexpr (is_half_type<S>) {
    return static_cast<D>(to_float(v));
  } else {
    return static_cast<D>(v);
  }
}

template <class F>
void dispatch_all(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i64: return f(int64_t{});
    case DType::u8: return f(uint8_t{});
    case DType::bf16: return f(__nv_bfloat16{});
    case DType::f16: return f(__half{});
  }
  fail(op, ": unknown dtype");
}

// unary / binary take float32, float64, int64 (comparisons and masks on indices) and bfloat16
// (mixed precision's activations and their gradients).
template <class F>
void dispatch_compute(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i64: return f(int64_t{});
    case DType::bf16: return f(__nv_bfloat16{});
    default: fail(op, ": the CUDA backend computes in float32, bfloat16, float64 or int64, got ", dtype_name(t));
  }
}

// The type an element is computed in: float for bfloat16 (rounded back when stored), else itself.
template <class T>
using ComputeOf = std::conditional_t<std::is_same_v<T, __nv_bfloat16>, float, T>;

template <class D, class S>
struct CopyFn {
  D* out;
  const S* in;
  __device__ void operator()(const int64_t* off) const { out[off[0]] = convert<D>(in[off[1]]); }
};

template <class T>
struct FillFn {
  T* out;
  T value;
  __device__ void operator()(const int64_t* off) const { out[off[0]] = value; }
};

// ---- unary and binary ops ---------------------------------------------------------------------

// float math for float32; double for float64 and for integers (as the CPU does through <cmath>).
// pow, clamp and affine take double parameters and compute in double like the CPU kernels.
__device__ inline float math_exp(float x) { return expf(x); }
__device__ inline double math_exp(double x) { return exp(x); }
__device__ inline float math_log(float x) { return logf(x); }
__device__ inline double math_log(double x) { return log(x); }
__device__ inline float math_sqrt(float x) { return sqrtf(x); }
__device__ inline double math_sqrt(double x) { return sqrt(x); }

template <class T>
__device__ T unary_apply(UnaryOp op, T x, double a, double b) {
  using C = std::conditional_t<std::is_same_v<T, float>, float, double>;
  const C c = static_cast<C>(x);
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::exp: return static_cast<T>(math_exp(c));
    case UnaryOp::log: return static_cast<T>(math_log(c));
    case UnaryOp::sqrt: return static_cast<T>(math_sqrt(c));
    case UnaryOp::abs: return x < T(0) ? -x : x;
    case UnaryOp::relu: return x < T(0) ? T(0) : x;  // NaN passes through, as on the CPU
    case UnaryOp::relu6: return x < T(0) ? T(0) : (x > T(6) ? T(6) : x);
    case UnaryOp::pow: return static_cast<T>(pow(static_cast<double>(x), a));
    case UnaryOp::clamp: return static_cast<T>(fmin(fmax(static_cast<double>(x), a), b));
    case UnaryOp::affine: return static_cast<T>(a * static_cast<double>(x) + b);
  }
  return x;
}

template <class T>
__device__ T binary_apply(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::add: return x + y;
    case BinaryOp::sub: return x - y;
    case BinaryOp::mul: return x * y;
    case BinaryOp::div: return x / y;
    case BinaryOp::max: return x > y ? x : y;
    case BinaryOp::min: return x < y ? x : y;
    case BinaryOp::eq: return x == y;
    case BinaryOp::ne: return x != y;
    case BinaryOp::lt: return x < y;
    case BinaryOp::le: return x <= y;
    case BinaryOp::gt: return x > y;
    case BinaryOp::ge: return x >= y;
    case BinaryOp::relu_backward: return y > T(0) ? x : T(0);
    case BinaryOp::relu6_backward: return (y > T(0) && y < T(6)) ? x : T(0);
  }
  return x;
}

template <class T>
struct UnaryFn {
  T* out;
  const T* in;
  UnaryOp op;
  double a, b;
  __device__ void operator()(const int64_t* off) const {
    using C = ComputeOf<T>;
    out[off[0]] = convert<T>(unary_apply(op, convert<C>(in[off[1]]), a, b));
  }
};

template <class T>
struct BinaryFn {
  T* out;
  const T* x;
  const T* y;
  BinaryOp op;
  __device__ void operator()(const int64_t* off) const {
    using C = ComputeOf<T>;
    out[off[0]] = convert<T>(binary_apply(op, convert<C>(x[off[1]]), convert<C>(y[off[2]])));
  }
};

// Contiguous float32: four elements per thread through 16-byte accesses, the op a template
// parameter so each kernel is straight-line code. `out` may alias an input (in-place ops).
bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <UnaryOp OP>
__global__ void unary_vec4_kernel(float* out, const float* in, int64_t n, double a, double b) {
  const int64_t n4 = n / 4;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = tid; i < n4; i += step) {
    float4 v = reinterpret_cast<const float4*>(in)[i];
    v.x = unary_apply(OP, v.x, a, b);
    v.y = unary_apply(OP, v.y, a, b);
    v.z = unary_apply(OP, v.z, a, b);
    v.w = unary_apply(OP, v.w, a, b);
    reinterpret_cast<float4*>(out)[i] = v;
  }
  if (tid < n - n4 * 4) out[n4 * 4 + tid] = unary_apply(OP, in[n4 * 4 + tid], a, b);
}

template <BinaryOp OP>
__global__ void binary_vec4_kernel(float* out, const float* x, const float* y, int64_t n) {
  const int64_t n4 = n / 4;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = tid; i < n4; i += step) {
    const float4 u = reinterpret_cast<const float4*>(x)[i];
    const float4 v = reinterpret_cast<const float4*>(y)[i];
    float4 r;
    r.x = binary_apply(OP, u.x, v.x);
    r.y = binary_apply(OP, u.y, v.y);
    r.z = binary_apply(OP, u.z, v.z);
    r.w = binary_apply(OP, u.w, v.w);
    reinterpret_cast<float4*>(out)[i] = r;
  }
  if (tid < n - n4 * 4) out[n4 * 4 + tid] = binary_apply(OP, x[n4 * 4 + tid], y[n4 * 4 + tid]);
}

template <UnaryOp OP>
void launch_unary_vec4(float* out, const float* in, int64_t n, double a, double b) {
  unary_vec4_kernel<OP><<<cuda::grid_for((n + 3) / 4, kThreads), kThreads, 0, cuda::stream()>>>(out, in, n, a, b);
  MN_CUDA_LAUNCH_CHECK();
}

template <BinaryOp OP>
void launch_binary_vec4(float* out, const float* x, const float* y, int64_t n) {
  binary_vec4_kernel<OP><<<cuda::grid_for((n + 3) / 4, kThreads), kThreads, 0, cuda::stream()>>>(out, x, y, n);
  MN_CUDA_LAUNCH_CHECK();
}

void unary_vec4(UnaryOp op, float* out, const float* in, int64_t n, double a, double b) {
  switch (op) {
#define MN_CASE(name) \
  case UnaryOp::name: return launch_unary_vec4<UnaryOp::name>(out, in, n, a, b);
    MN_CASE(neg) MN_CASE(exp) MN_CASE(log) MN_CASE(sqrt) MN_CASE(abs) MN_CASE(relu) MN_CASE(relu6)
    MN_CASE(pow) MN_CASE(clamp) MN_CASE(affine)
#undef MN_CASE
  }
}

void binary_vec4(BinaryOp op, float* out, const float* x, const float* y, int64_t n) {
  switch (op) {
#define MN_CASE(name) \
  case BinaryOp::name: return launch_binary_vec4<BinaryOp::name>(out, x, y, n);
    MN_CASE(add) MN_CASE(sub) MN_CASE(mul) MN_CASE(div) MN_CASE(max) MN_CASE(min)
    MN_CASE(eq) MN_CASE(ne) MN_CASE(lt) MN_CASE(le) MN_CASE(gt) MN_CASE(ge)
    MN_CASE(relu_backward) MN_CASE(relu6_backward)
#undef MN_CASE
  }
}

}  // namespace

void CudaBackend::copy(const Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  Indexer<2> ix = make_indexer<2>("copy", dst.shape(), {&dst, &src});
  if (dst.dtype() == src.dtype() && ix.contiguous()) {
    MN_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), n * dtype_size(dst.dtype()),
                                  cudaMemcpyDeviceToDevice, cuda::stream()));
    return;
  }
  dispatch_all(dst.dtype(), "copy", [&](auto d) {
    using D = decltype(d);
    dispatch_all(src.dtype(), "copy", [&](auto s) {
      using S = decltype(s);
      launch_strided(ix, n, CopyFn<D, S>{static_cast<D*>(dst.data_ptr()), static_cast<const S*>(src.data_ptr())});
    });
  });
}

void CudaBackend::fill(const Tensor& dst, double value) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  Indexer<1> ix = make_indexer<1>("fill", dst.shape(), {&dst});
  if (value == 0.0 && ix.contiguous()) {  // all-zero bits is zero in every dtype
    MN_CUDA_CHECK(cudaMemsetAsync(dst.data_ptr(), 0, n * dtype_size(dst.dtype()), cuda::stream()));
    return;
  }
  dispatch_all(dst.dtype(), "fill", [&](auto d) {
    using D = decltype(d);
    D v;
    if constexpr (std::is_same_v<D, __nv_bfloat16>) v = __float2bfloat16(static_cast<float>(value));
    else if constexpr (std::is_same_v<D, __half>) v = __float2half(static_cast<float>(value));
    else v = static_cast<D>(value);
    launch_strided(ix, n, FillFn<D>{static_cast<D*>(dst.data_ptr()), v});
  });
}

void CudaBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in, double a, double b) {
  const int64_t n = out.numel();
  if (n == 0) return;
  MN_CHECK(out.dtype() == in.dtype(), "unary: output ", dtype_name(out.dtype()), " and input ",
           dtype_name(in.dtype()), " differ");
  Indexer<2> ix = make_indexer<2>("unary", out.shape(), {&out, &in});
  dispatch_compute(out.dtype(), "unary", [&](auto d) {
    using T = decltype(d);
    T* o = static_cast<T*>(out.data_ptr());
    const T* i = static_cast<const T*>(in.data_ptr());
    if constexpr (std::is_same_v<T, float>) {
      if (ix.contiguous() && aligned16(o) && aligned16(i)) return unary_vec4(op, o, i, n, a, b);
    }
    launch_strided(ix, n, UnaryFn<T>{o, i, op, a, b});
  });
}

void CudaBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  const int64_t n = out.numel();
  if (n == 0) return;
  MN_CHECK(out.dtype() == a.dtype() && a.dtype() == b.dtype(), "binary: dtypes differ (",
           dtype_name(out.dtype()), ", ", dtype_name(a.dtype()), ", ", dtype_name(b.dtype()), ")");
  Indexer<3> ix = make_indexer<3>("binary", out.shape(), {&out, &a, &b});
  dispatch_compute(out.dtype(), "binary", [&](auto d) {
    using T = decltype(d);
    T* o = static_cast<T*>(out.data_ptr());
    const T* x = static_cast<const T*>(a.data_ptr());
    const T* y = static_cast<const T*>(b.data_ptr());
    if constexpr (std::is_same_v<T, float>) {
      if (ix.contiguous() && aligned16(o) && aligned16(x) && aligned16(y)) return binary_vec4(op, o, x, y, n);
    }
    launch_strided(ix, n, BinaryFn<T>{o, x, y, op});
  });
}

}  // namespace mn
