// The CUDA emulator's runtime: kernel launches as fibers on the host (see emu.h) and the subset of
// the CUDA runtime API that cuda/ calls, with "device" memory in host memory. Streams and events
// are handles that order nothing, since every call completes before it returns.
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "cuda/emu/emu.h"

// Saves the callee-saved registers and the floating-point control words on the current stack,
// stores its pointer in *from, and continues on the stack `to` (saved the same way). x86-64 System
// V; ucontext's swapcontext would also do a system call per switch (the signal mask), which made
// it 85% of the emulator's time.
extern "C" void mn_emu_switch(void** from, void* to);
asm(R"(
  .pushsection .text
  .globl mn_emu_switch
  .type mn_emu_switch, @function
mn_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size mn_emu_switch, .-mn_emu_switch
  .popsection
)");

namespace mn_emu {

uint3 thread_idx, block_idx;
dim3 block_dim, grid_dim;

namespace {

constexpr size_t kStack = 64 * 1024;

enum class State { ready, block_wait, warp_wait, done };

struct Fiber {
  void* sp;  // its saved stack pointer while it is switched out
  State state;
  uint3 idx;
};

struct Scheduler {
  void* main_sp = nullptr;
  const void* main_stack = nullptr;  // the launching thread's stack, for AddressSanitizer
  size_t main_size = 0;
  std::vector<Fiber> fibers;
  std::vector<char> stacks;  // fibers' stacks, kStack each (16-byte aligned, as new gives)
  std::vector<unsigned char> exchange;
  const std::function<void()>* body = nullptr;
  size_t current = 0;
};
Scheduler sched;
std::mutex launch_mu;  // one launch at a time: the indices and the scheduler are the process's

// AddressSanitizer follows the current stack, so it is told of every switch (no-ops without it).
void switch_start(void** fake_stack, const void* bottom, size_t size) {
#ifdef __SANITIZE_ADDRESS__
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#endif
}
void switch_finish(void* fake_stack, const void** bottom_from, size_t* size_from) {
#ifdef __SANITIZE_ADDRESS__
  __sanitizer_finish_switch_fiber(fake_stack, bottom_from, size_from);
#endif
}

void to_fiber(size_t i) {
  void* fake = nullptr;
  switch_start(&fake, sched.stacks.data() + i * kStack, kStack);
  mn_emu_switch(&sched.main_sp, sched.fibers[i].sp);
  switch_finish(fake, nullptr, nullptr);
}

// Back to the scheduler, in state s; returns when the scheduler resumes this thread.
void to_scheduler(State s) {
  Fiber& f = sched.fibers[sched.current];
  f.state = s;
  void* fake = nullptr;
  switch_start(s == State::done ? nullptr : &fake, sched.main_stack, sched.main_size);
  mn_emu_switch(&f.sp, sched.main_sp);
  switch_finish(fake, &sched.main_stack, &sched.main_size);
}

void fiber_main() {
  switch_finish(nullptr, &sched.main_stack, &sched.main_size);
  (*sched.body)();
  to_scheduler(State::done);
}

[[noreturn]] void deadlock() {
  std::fprintf(stderr, "cuda emulator: block (%u, %u, %u) deadlocked: its threads wait at different barriers\n",
               block_idx.x, block_idx.y, block_idx.z);
  std::abort();
}

// Releases the warps whose live lanes all wait at a shuffle, else the block when every live
// thread waits at __syncthreads; false when nothing could be released.
bool release(size_t n) {
  bool any = false;
  for (size_t w = 0; w < n; w += 32) {
    size_t waiting = 0, live = 0;
    for (size_t i = w; i < std::min(n, w + 32); ++i) {
      live += sched.fibers[i].state != State::done;
      waiting += sched.fibers[i].state == State::warp_wait;
    }
    if (live && waiting == live) {
      for (size_t i = w; i < std::min(n, w + 32); ++i)
        if (sched.fibers[i].state == State::warp_wait) sched.fibers[i].state = State::ready;
      any = true;
    }
  }
  if (any) return true;
  size_t live = 0, waiting = 0;
  for (size_t i = 0; i < n; ++i) {
    live += sched.fibers[i].state != State::done;
    waiting += sched.fibers[i].state == State::block_wait;
  }
  if (!live) return false;
  if (waiting != live) deadlock();
  for (size_t i = 0; i < n; ++i)
    if (sched.fibers[i].state == State::block_wait) sched.fibers[i].state = State::ready;
  return true;
}

// A fresh fiber's stack, as mn_emu_switch leaves one: control words, six registers and a return
// address into fiber_main, above it a null return address for fiber_main itself (which never
// returns), so that it starts with the stack aligned as after a call.
void start_fiber(size_t i) {
  Fiber& f = sched.fibers[i];
  f.state = State::ready;
  f.idx = {unsigned(i % block_dim.x), unsigned(i / block_dim.x % block_dim.y),
           unsigned(i / (block_dim.x * block_dim.y))};
  auto* top = reinterpret_cast<uint64_t*>(sched.stacks.data() + (i + 1) * kStack);
  uint64_t* sp = top - 9;
  sp[0] = 0x1f80 | uint64_t{0x037f} << 32;  // MXCSR and the x87 control word at their defaults
  for (int r = 1; r <= 6; ++r) sp[r] = 0;
  sp[7] = reinterpret_cast<uint64_t>(&fiber_main);
  sp[8] = 0;
  f.sp = sp;
}

void run_block(size_t n) {
  for (size_t i = 0; i < n; ++i) start_fiber(i);
  do {
    for (size_t i = 0; i < n; ++i) {
      if (sched.fibers[i].state != State::ready) continue;
      sched.current = i;
      thread_idx = sched.fibers[i].idx;
      to_fiber(i);
    }
  } while (release(n));
}

}  // namespace

void run(dim3 grid, dim3 block, const std::function<void()>& body) {
  const size_t n = size_t(block.x) * block.y * block.z;
  if (n == 0 || n > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0) {
    std::fprintf(stderr, "cuda emulator: bad launch: grid (%u, %u, %u), block (%u, %u, %u)\n", grid.x, grid.y,
                 grid.z, block.x, block.y, block.z);
    std::abort();
  }
  std::lock_guard<std::mutex> lock(launch_mu);
  grid_dim = grid;
  block_dim = block;
  sched.body = &body;
  if (sched.fibers.size() < n) {
    sched.fibers.resize(n);
    sched.stacks.resize(n * kStack);
    sched.exchange.resize(n * 16);
  }
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        block_idx = {x, y, z};
        run_block(n);
      }
}

void block_barrier() { to_scheduler(State::block_wait); }
void warp_barrier() { to_scheduler(State::warp_wait); }
unsigned linear_thread() { return unsigned(sched.current); }
unsigned char* exchange_slot(unsigned thread) { return sched.exchange.data() + size_t(thread) * 16; }

}  // namespace mn_emu

// ---- the runtime API ---------------------------------------------------------------------------

namespace {

cudaError_t last_error = cudaSuccess;

// The emulated GPU's memory: larger requests fail as on a GPU (not by exhausting the host).
constexpr size_t kDeviceMemory = size_t{16} << 30;

cudaError_t fail(cudaError_t e) {
  last_error = e;
  return e;
}

// Memory pools, as an ideal pool that splits and merges freely: its reserved memory is the most
// it has had in use since the last trim. Each block is a malloc of its own.
std::mutex pool_mu;
std::map<void*, size_t> pool_blocks;
size_t pool_in_use = 0, pool_reserved = 0;

template <class T>
T* handle() {
  return reinterpret_cast<T*>(new char[16]);  // a distinct non-null value; never dereferenced
}

}  // namespace

extern "C" {

cudaError_t cudaGetDeviceCount(int* count) {
  *count = std::getenv("MN_EMU_NO_DEVICE") ? 0 : 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int) { return cudaSuccess; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "mn CUDA emulator");
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 4;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->totalGlobalMem = kDeviceMemory;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr attr, int) {
  *v = attr == cudaDevAttrMemoryPoolsSupported ? 1 : 0;
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated error"; }
const char* cudaGetErrorName(cudaError_t e) { return e == cudaSuccess ? "cudaSuccess" : "cudaErrorEmulated"; }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = handle<CUstream_st>();
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  *e = handle<CUevent_st>();
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }

cudaError_t cudaMalloc(void** p, size_t n) {
  *p = n > kDeviceMemory ? nullptr : std::malloc(n ? n : 1);
  return *p ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}
cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** p, size_t n, unsigned) { return cudaMalloc(p, n); }
cudaError_t cudaFreeHost(void* p) { return cudaFree(p); }
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  *total = kDeviceMemory;
  *free_bytes = *total - pool_reserved;
  return cudaSuccess;
}

cudaError_t cudaMemPoolCreate(cudaMemPool_t* pool, const cudaMemPoolProps*) {
  *pool = handle<CUmemPoolHandle_st>();
  return cudaSuccess;
}
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void*) { return cudaSuccess; }
cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t, cudaMemPoolAttr attr, void* v) {
  std::lock_guard<std::mutex> lock(pool_mu);
  *static_cast<uint64_t*>(v) = attr == cudaMemPoolAttrReservedMemCurrent ? pool_reserved : 0;
  return cudaSuccess;
}
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t, size_t keep) {
  std::lock_guard<std::mutex> lock(pool_mu);
  pool_reserved = std::max(pool_in_use, std::min(pool_reserved, keep));
  return cudaSuccess;
}
cudaError_t cudaMallocFromPoolAsync(void** p, size_t n, cudaMemPool_t, cudaStream_t) {
  // Filled with a pattern, as fresh device memory holds leftovers: a kernel that reads what it
  // never wrote shows up as NaNs rather than as lucky zeros.
  std::lock_guard<std::mutex> lock(pool_mu);
  *p = n > kDeviceMemory - pool_in_use ? nullptr : std::malloc(n ? n : 1);
  if (!*p) return fail(cudaErrorMemoryAllocation);
  std::memset(*p, 0xff, n);
  pool_blocks[*p] = n;
  pool_in_use += n;
  pool_reserved = std::max(pool_reserved, pool_in_use);
  return cudaSuccess;
}
cudaError_t cudaFreeAsync(void* p, cudaStream_t) {
  std::lock_guard<std::mutex> lock(pool_mu);
  auto it = pool_blocks.find(p);
  if (it == pool_blocks.end()) return fail(cudaErrorInvalidValue);
  pool_in_use -= it->second;
  pool_blocks.erase(it);
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind, cudaStream_t) {
  if (n) std::memmove(dst, src, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                              size_t height, cudaMemcpyKind, cudaStream_t) {
  for (size_t r = 0; r < height; ++r)
    std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
  std::memset(p, v, n);
  return cudaSuccess;
}

}  // extern "C"
