// Internal to cuda/: CUDA, cuDNN and cuBLAS headers, the check macros every call goes through, the
// per-process GPU context (device, streams, library handles, allocators) and small launch helpers.
// Nothing outside cuda/ includes this file.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "cuda/allocator.h"
#include "cuda/cuda_backend.h"

namespace mn::cuda {

[[noreturn]] void fail_cuda(cudaError_t e, const char* expr, const char* file, int line);
[[noreturn]] void fail_cudnn(cudnnStatus_t s, const char* expr, const char* file, int line);
[[noreturn]] void fail_cublas(cublasStatus_t s, const char* expr, const char* file, int line);

}  // namespace mn::cuda

// Each throws mn::Error naming the call, file:line and the library's error string.
#define MN_CUDA_CHECK(expr)                                                     \
  do {                                                                          \
    cudaError_t mn_err_ = (expr);                                               \
    if (mn_err_ != cudaSuccess) ::mn::cuda::fail_cuda(mn_err_, #expr, __FILE__, __LINE__); \
  } while (0)
#define MN_CUDNN_CHECK(expr)                                                    \
  do {                                                                          \
    cudnnStatus_t mn_st_ = (expr);                                              \
    if (mn_st_ != CUDNN_STATUS_SUCCESS) ::mn::cuda::fail_cudnn(mn_st_, #expr, __FILE__, __LINE__); \
  } while (0)
#define MN_CUBLAS_CHECK(expr)                                                   \
  do {                                                                          \
    cublasStatus_t mn_st_ = (expr);                                             \
    if (mn_st_ != CUBLAS_STATUS_SUCCESS) ::mn::cuda::fail_cublas(mn_st_, #expr, __FILE__, __LINE__); \
  } while (0)
// After every kernel launch: reports bad launch configurations at the launch site.
#define MN_CUDA_LAUNCH_CHECK() MN_CUDA_CHECK(cudaGetLastError())

namespace mn::cuda {

// The one GPU mn drives, cuda:0 to the rest of mn: the visible GPU cuda_select_device picked
// (tensor/backend.h), the first one unless MPI ranks share a machine.
struct Context {
  int device = 0;  // the CUDA runtime's index
  cudaDeviceProp props{};
  cudaStream_t compute = nullptr;  // every kernel, library call and synchronous copy
  cudaStream_t copy = nullptr;     // asynchronous host-to-device batch copies
  std::optional<DeviceAllocator> allocator;  // made once the compute stream exists
  PinnedAllocator pinned;
  bool allow_tf32 = true;  // float32 convolutions; PyTorch's torch.backends.cudnn.allow_tf32 default
  DType activations = DType::f32;  // bf16 under precision = "bf16" (Backend::activation_dtype)
  MemoryFormat memory_format = MemoryFormat::contiguous;  // of activations (Backend::memory_format)
  bool cudnn_benchmark = true;  // cudnnFind* (measure) rather than heuristics; MN_CUDNN_BENCHMARK=0
  bool cudnn_log = false;  // MN_CUDNN_LOG=1: one stderr line per algorithm chosen (shape, algo, math)
};
Context& context();  // created on first use; throws mn::Error without a usable GPU
cudaStream_t stream();  // context().compute
cudnnHandle_t cudnn();  // created on first use, bound to the compute stream

// cuBLAS's functions mn calls, and its handle (bound to the compute stream). The library is
// loaded on first use, not linked: loading it (its libcublasLt) costs a process about 210 MB of
// resident memory, which every CPU-only run paid. In the emulator build they are its own.
struct Cublas {
  cublasHandle_t handle = nullptr;
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                            const void*, const void*, cudaDataType, int, const void*, cudaDataType,
                            int, const void*, void*, cudaDataType, int, cublasComputeType_t,
                            cublasGemmAlgo_t) = nullptr;  // (cublasGemmEx is overloaded in C++)
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  decltype(&cublasGetStatusName) status_name = nullptr;
  decltype(&cublasGetStatusString) status_string = nullptr;
};
const Cublas& cublas();  // loaded and created on first use; throws mn::Error if it cannot be

// Device scratch memory from the device pool, returned when it goes out of scope. Safe to
// release right after queueing the kernels that use it: every user is on the compute stream.
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t nbytes);
  ~Buffer();
  Buffer(Buffer&& o) noexcept : ptr_(o.ptr_), nbytes_(o.nbytes_) { o.ptr_ = nullptr; o.nbytes_ = 0; }
  Buffer& operator=(Buffer&& o) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* get() const { return ptr_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t size() const { return nbytes_; }

 private:
  void* ptr_ = nullptr;
  size_t nbytes_ = 0;
};

// Every defined tensor among `tensors` has dtype t (an mn::Error naming op otherwise). Losses,
// softmax and SGD take float32 only; activation ops float32 or bfloat16 (cuda/dtype.cuh).
void require_dtype(const char* op, DType t, std::initializer_list<const Tensor*> tensors);
inline void require_f32(const char* op, std::initializer_list<const Tensor*> tensors) {
  require_dtype(op, DType::f32, tensors);
}

// Launch geometry: 1-D grids of `threads` threads, capped so grid-stride loops cover the rest.
inline unsigned grid_for(int64_t n, int threads, int64_t cap = 65535LL * 16) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned>(blocks < cap ? blocks : cap);
}
int num_sms();
// Whether activations are channels-last (NHWC): the layout every activation the dispatchers pass
// this backend is in.
inline bool channels_last() { return context().memory_format == MemoryFormat::channels_last; }

}  // namespace mn::cuda
