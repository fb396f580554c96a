// The CUDA emulator's kernel-side header, force-included (-include) into every cuda/ source of an
// MN_CUDA_EMU build: the toolkit's own headers (types, enums, bfloat16 arithmetic on the host),
// then the few things a kernel body needs that a host compiler lacks: thread and block indices,
// __syncthreads, warp shuffles, atomics and the device-only math functions. cu2cpp.py rewrites
// each `kernel<<<grid, block, shared, stream>>>(args)` into mn_emu::launch(...).
//
// Execution model (runtime.cpp): a launch runs its blocks one after another on the calling thread,
// and the threads of a block as cooperative fibers that switch only at __syncthreads and at warp
// shuffles. So __shared__ variables can be function statics (one block lives at a time) and
// atomics need no atomicity. Everything is synchronous: streams and events order nothing.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>

#undef __shared__
#define __shared__ static
#undef __forceinline__
#define __forceinline__ inline

namespace mn_emu {

// The running thread's indices. Plain globals: run() lets one launch run at a time in the process.
extern uint3 thread_idx, block_idx;
extern dim3 block_dim, grid_dim;

// Runs body once per thread of every block (the fibers above).
void run(dim3 grid, dim3 block, const std::function<void()>& body);
void block_barrier();
void warp_barrier();
// The calling thread's index within its block, and a per-block scratch of 16 bytes per thread
// through which shuffles pass their values.
unsigned linear_thread();
unsigned char* exchange_slot(unsigned thread);

// A launch's <<<grid, block, shared bytes, stream>>>.
struct Config {
  dim3 grid, block;
  size_t shared = 0;
  cudaStream_t stream = nullptr;
};

// kernel: a generic lambda calling the kernel (so that template parameters deduced from the
// arguments are deduced). Arguments are copied once, as a launch copies them, and each thread
// calls the kernel with its own copy.
template <class K, class... A>
void launch(Config c, K kernel, A&&... args) {
  std::tuple<std::decay_t<A>...> params(std::forward<A>(args)...);
  run(c.grid, c.block, [&] {
    std::apply([&](const auto&... p) { kernel(p...); }, params);
  });
}

template <class T>
T shuffle_from(T v, unsigned src_lane) {
  static_assert(sizeof(T) <= 16 && std::is_trivially_copyable_v<T>);
  const unsigned me = linear_thread();
  std::memcpy(exchange_slot(me), &v, sizeof(T));
  warp_barrier();
  T r;
  std::memcpy(&r, exchange_slot((me & ~31u) + src_lane), sizeof(T));
  warp_barrier();  // nobody overwrites a slot before every lane has read it
  return r;
}

}  // namespace mn_emu

#define threadIdx (::mn_emu::thread_idx)
#define blockIdx (::mn_emu::block_idx)
#define blockDim (::mn_emu::block_dim)
#define gridDim (::mn_emu::grid_dim)

inline void __syncthreads() { ::mn_emu::block_barrier(); }
template <class T>
T __shfl_down_sync(unsigned, T v, unsigned delta, int = 32) {
  const unsigned lane = ::mn_emu::linear_thread() % 32;
  return ::mn_emu::shuffle_from(v, lane + delta < 32 ? lane + delta : lane);
}
template <class T>
T __shfl_xor_sync(unsigned, T v, int mask, int = 32) {
  return ::mn_emu::shuffle_from(v, (::mn_emu::linear_thread() % 32) ^ unsigned(mask));
}
template <class T, class U>
T atomicAdd(T* p, U v) {
  const T old = *p;
  *p = static_cast<T>(old + v);
  return old;
}
template <class A, class B>
constexpr std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  return C(b) < C(a) ? C(b) : C(a);
}
template <class A, class B>
constexpr std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  return C(a) < C(b) ? C(b) : C(a);
}
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float rsqrtf(float v) { return 1.0f / std::sqrt(v); }
