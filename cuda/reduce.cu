// CUDA row reductions over contiguous (M, K): sum, mean, max, min, argmax, var (population or
// unbiased). Short rows get one warp each; long rows are split into segments reduced by whole
// blocks, whose partial states a second kernel merges, so one huge row (a sum over everything)
// still spreads over the whole GPU. Each op is a "state" with identity, combine and write:
// float sums accumulate in float32 by tree (error ~ log K ulp), variance merges Welford states
// (Chan et al.), max/min keep the first index and let NaN win as the CPU does. bfloat16 rows
// (gradients of mixed precision's biases) take sum and mean, accumulated in float32.
#include <algorithm>
#include <type_traits>

#include "cuda/dtype.cuh"

namespace mn {

namespace {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kThreads = 256;
constexpr int64_t kWarpRowMax = 4096;  // rows up to this long: one warp per row

template <class T>
using AccOf = std::conditional_t<std::is_same_v<T, double>, double,
                                 std::conditional_t<std::is_same_v<T, int64_t>, int64_t, float>>;

template <class T>
struct SumR {
  using Acc = AccOf<T>;
  struct State {
    Acc s;
  };
  __device__ static State identity() { return {Acc(0)}; }
  __device__ static State from(T v, int64_t) {
    if constexpr (cuda::is_bf16<T>) return {cuda::load(v)};
    else return {static_cast<Acc>(v)};
  }
  __device__ static State combine(State a, State b) { return {a.s + b.s}; }
  __device__ static State shfl_down(State a, int d) { return {__shfl_down_sync(kFullMask, a.s, d)}; }
  __device__ static void write(State st, ReduceOp op, int64_t k, T* out, int64_t*) {
    const Acc r = op == ReduceOp::mean ? st.s / static_cast<Acc>(k) : st.s;
    if constexpr (cuda::is_bf16<T>) *out = cuda::store<T>(r);
    else *out = static_cast<T>(r);
  }
};

template <class T>
__device__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// MIN selects min, else max (and argmax). Ties keep the lower index; a NaN beats any number.
template <class T, bool MIN>
struct ExtR {
  struct State {
    T v;
    int64_t i;  // -1: empty
  };
  __device__ static State identity() { return {T(0), -1}; }
  __device__ static State from(T v, int64_t i) { return {v, i}; }
  __device__ static State combine(State a, State b) {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    const bool an = is_nan(a.v), bn = is_nan(b.v);
    if (an || bn) return (an && bn) ? (a.i < b.i ? a : b) : (an ? a : b);
    if (a.v == b.v) return a.i < b.i ? a : b;
    return (MIN ? b.v < a.v : b.v > a.v) ? b : a;
  }
  __device__ static State shfl_down(State a, int d) {
    return {__shfl_down_sync(kFullMask, a.v, d), __shfl_down_sync(kFullMask, a.i, d)};
  }
  __device__ static void write(State st, ReduceOp op, int64_t, T* out, int64_t* arg) {
    if (op == ReduceOp::argmax)
      *arg = st.i;
    else
      *out = st.v;
  }
};

template <class T>
struct VarR {
  using Acc = std::conditional_t<std::is_same_v<T, float>, float, double>;
  struct State {
    Acc n, mean, m2;
  };
  __device__ static State identity() { return {Acc(0), Acc(0), Acc(0)}; }
  __device__ static State from(T v, int64_t) { return {Acc(1), static_cast<Acc>(v), Acc(0)}; }
  __device__ static State combine(State a, State b) {
    if (a.n == Acc(0)) return b;
    if (b.n == Acc(0)) return a;
    const Acc n = a.n + b.n, delta = b.mean - a.mean, wb = b.n / n;
    return {n, a.mean + delta * wb, a.m2 + b.m2 + delta * delta * a.n * wb};
  }
  __device__ static State shfl_down(State a, int d) {
    return {__shfl_down_sync(kFullMask, a.n, d), __shfl_down_sync(kFullMask, a.mean, d),
            __shfl_down_sync(kFullMask, a.m2, d)};
  }
  __device__ static void write(State st, ReduceOp op, int64_t k, T* out, int64_t*) {
    const int64_t denom = op == ReduceOp::var_unbiased ? k - 1 : k;
    *out = denom > 0 ? static_cast<T>(st.m2 / static_cast<Acc>(denom)) : static_cast<T>(NAN);
  }
};

template <class R>
__device__ typename R::State warp_reduce(typename R::State s) {
#pragma unroll
  for (int d = 16; d > 0; d /= 2) s = R::combine(s, R::shfl_down(s, d));
  return s;
}

template <class T, class R>
__global__ void warp_rows_kernel(const T* x, int64_t m, int64_t k, ReduceOp op, T* out, int64_t* arg) {
  const int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= m) return;  // uniform across the warp
  const T* xr = x + row * k;
  typename R::State s = R::identity();
  for (int64_t j = lane; j < k; j += 32) s = R::combine(s, R::from(xr[j], j));
  s = warp_reduce<R>(s);
  if (lane == 0) R::write(s, op, k, out ? out + row : nullptr, arg ? arg + row : nullptr);
}

// blockIdx.y = row, blockIdx.x = segment of `seg` elements. One segment writes the result;
// several write partial states for merge_kernel.
template <class T, class R>
__global__ void block_rows_kernel(const T* x, int64_t k, int64_t seg, typename R::State* partial,
                                  ReduceOp op, T* out, int64_t* arg) {
  __shared__ typename R::State warp_states[kThreads / 32];
  const int64_t row = blockIdx.y;
  const int64_t begin = blockIdx.x * seg, end = begin + seg < k ? begin + seg : k;
  const T* xr = x + row * k;
  typename R::State s = R::identity();
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) s = R::combine(s, R::from(xr[j], j));
  s = warp_reduce<R>(s);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_states[warp] = s;
  __syncthreads();
  if (warp != 0) return;
  s = lane < static_cast<int>(blockDim.x / 32) ? warp_states[lane] : R::identity();
  s = warp_reduce<R>(s);
  if (lane != 0) return;
  if (gridDim.x == 1)
    R::write(s, op, k, out ? out + row : nullptr, arg ? arg + row : nullptr);
  else
    partial[row * gridDim.x + blockIdx.x] = s;
}

// One warp per row merges its `segments` partial states in segment order.
template <class T, class R>
__global__ void merge_kernel(const typename R::State* partial, int64_t m, int segments, int64_t k,
                             ReduceOp op, T* out, int64_t* arg) {
  const int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= m) return;
  typename R::State s = R::identity();
  for (int j = lane; j < segments; j += 32) s = R::combine(s, partial[row * segments + j]);
  s = warp_reduce<R>(s);
  if (lane == 0) R::write(s, op, k, out ? out + row : nullptr, arg ? arg + row : nullptr);
}

template <class T, class R>
void run(ReduceOp op, const Tensor& out, const Tensor& in) {
  const int64_t m = in.size(0), k = in.size(1);
  const T* x = static_cast<const T*>(in.data_ptr());
  T* o = op == ReduceOp::argmax ? nullptr : static_cast<T*>(out.data_ptr());
  int64_t* a = op == ReduceOp::argmax ? static_cast<int64_t*>(out.data_ptr()) : nullptr;
  cudaStream_t st = cuda::stream();
  if (k <= kWarpRowMax || m >= 65535) {
    warp_rows_kernel<T, R><<<cuda::grid_for(m * 32, kThreads, INT32_MAX), kThreads, 0, st>>>(x, m, k, op, o, a);
    MN_CUDA_LAUNCH_CHECK();
    return;
  }
  // Enough blocks to fill the GPU a few times over, each reading at least 2048 elements.
  const int64_t want = (4 * cuda::num_sms() + m - 1) / m;
  const int64_t segments = std::max<int64_t>(1, std::min<int64_t>({want, (k + 2047) / 2048, 1024}));
  const int64_t seg = (k + segments - 1) / segments;
  cuda::Buffer partial(segments > 1 ? m * segments * sizeof(typename R::State) : 0);
  dim3 grid(static_cast<unsigned>(segments), static_cast<unsigned>(m));
  block_rows_kernel<T, R><<<grid, kThreads, 0, st>>>(x, k, seg, partial.as<typename R::State>(), op, o, a);
  MN_CUDA_LAUNCH_CHECK();
  if (segments > 1) {
    merge_kernel<T, R><<<cuda::grid_for(m * 32, kThreads, INT32_MAX), kThreads, 0, st>>>(
        partial.as<typename R::State>(), m, static_cast<int>(segments), k, op, o, a);
    MN_CUDA_LAUNCH_CHECK();
  }
}

template <class T>
void reduce_typed(ReduceOp op, const Tensor& out, const Tensor& in) {
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::mean: return run<T, SumR<T>>(op, out, in);
    case ReduceOp::max:
    case ReduceOp::argmax: return run<T, ExtR<T, false>>(op, out, in);
    case ReduceOp::min: return run<T, ExtR<T, true>>(op, out, in);
    case ReduceOp::var:
    case ReduceOp::var_unbiased:
      if constexpr (std::is_floating_point_v<T>) return run<T, VarR<T>>(op, out, in);
      fail("reduce var: the CUDA backend takes float32 (or float64), got int64");
  }
}

}  // namespace

void CudaBackend::reduce_rows(ReduceOp op, const Tensor& out, const Tensor& in) {
  if (in.size(0) == 0) return;
  switch (in.dtype()) {
    case DType::f32: return reduce_typed<float>(op, out, in);
    case DType::f64: return reduce_typed<double>(op, out, in);
    case DType::i64: return reduce_typed<int64_t>(op, out, in);
    case DType::bf16:
      MN_CHECK(op == ReduceOp::sum || op == ReduceOp::mean, "reduce: bfloat16 rows take sum and mean on the "
               "CUDA backend; cast to float32 for the others");
      return run<cuda::bf16, SumR<cuda::bf16>>(op, out, in);
    default: fail("reduce: the CUDA backend computes in float32 (also float64, int64, bfloat16 sums), got ", dtype_name(in.dtype()));
  }
}

}  // namespace mn
