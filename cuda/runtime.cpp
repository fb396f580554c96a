// The GPU context: device discovery, streams, cuDNN/cuBLAS handles, error reporting, and the
// definitions of mn::cuda_available() / cuda_select_device() / cuda_backend() declared in
// tensor/backend.h.
#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "cuda/common.h"

namespace mn {

namespace {

// cudaGetDeviceCount once; a machine without a driver or a GPU is not an error, just no CUDA.
struct Availability {
  int devices = 0;
  std::string reason;
};

const Availability& availability() {
  static const Availability a = [] {
    Availability r;
    cudaError_t e = cudaGetDeviceCount(&r.devices);
    if (e != cudaSuccess) {
      cudaGetLastError();
      r.devices = 0;
      r.reason = cat("no usable CUDA device (", cudaGetErrorString(e), ")");
    } else if (r.devices == 0) {
      r.reason = "no CUDA device found";
    }
    return r;
  }();
  return a;
}

// The node-local rank cuda_select_device was given, and the context once it is made.
std::atomic<int> selected_rank{0};
std::atomic<const cuda::Context*> made{nullptr};

int device_for(int local_rank) { return local_rank % availability().devices; }

}  // namespace

bool cuda_available() { return availability().devices > 0; }

void cuda_select_device(int local_rank) {
  MN_CHECK(local_rank >= 0, "cuda_select_device: a negative local rank, ", local_rank);
  // No CUDA call until the context is made, so a CPU-only run under MPI never initialises CUDA.
  if (const cuda::Context* c = made.load())
    MN_CHECK(device_for(local_rank) == c->device, "cuda: local rank ", local_rank, " selects GPU ",
             device_for(local_rank), ", but this process already drives GPU ", c->device,
             " (select the GPU before the first CUDA use)");
  selected_rank = local_rank;
}

bool cuda_bf16_supported() { return cuda_available() && cuda::context().props.major >= 8; }

Backend& cuda_backend() {
  MN_CHECK(cuda_available(), "cuda: ", availability().reason);
  static CudaBackend* b = new CudaBackend;  // never destroyed: tensors may outlive static teardown
  return *b;
}

namespace cuda {

void fail_cuda(cudaError_t e, const char* expr, const char* file, int line) {
  fail("cuda: ", expr, " failed at ", file, ":", line, ": ", cudaGetErrorName(e), " (",
       cudaGetErrorString(e), ")");
}

void fail_cudnn(cudnnStatus_t s, const char* expr, const char* file, int line) {
  fail("cudnn: ", expr, " failed at ", file, ":", line, ": ", cudnnGetErrorString(s));
}

void fail_cublas(cublasStatus_t s, const char* expr, const char* file, int line) {
  fail("cublas: ", expr, " failed at ", file, ":", line, ": ", cublas().status_name(s), " (",
       cublas().status_string(s), ")");
}

Context& context() {
  // Leaked on purpose, like the backend: freeing at exit would race the CUDA runtime's own teardown.
  static Context* ctx = [] {
    MN_CHECK(cuda_available(), "cuda: ", availability().reason);
    auto* c = new Context;
    c->device = device_for(selected_rank);
    MN_CUDA_CHECK(cudaSetDevice(c->device));
    MN_CUDA_CHECK(cudaGetDeviceProperties(&c->props, c->device));
    // Non-blocking: the legacy default stream never serialises against mn's own streams.
    MN_CUDA_CHECK(cudaStreamCreateWithFlags(&c->compute, cudaStreamNonBlocking));
    MN_CUDA_CHECK(cudaStreamCreateWithFlags(&c->copy, cudaStreamNonBlocking));
    c->allocator.emplace(c->device, c->compute);
    if (const char* v = std::getenv("MN_CUDNN_BENCHMARK")) c->cudnn_benchmark = std::strcmp(v, "0") != 0;
    if (const char* v = std::getenv("MN_CUDNN_LOG")) c->cudnn_log = std::strcmp(v, "0") != 0;
    made = c;
    return c;
  }();
  // The current device is per host thread, device 0 until set: every thread (the loader's
  // workers too, which allocate pinned memory) binds to the context's GPU on its first use.
  thread_local bool bound = false;
  if (!bound) {
    MN_CUDA_CHECK(cudaSetDevice(ctx->device));
    bound = true;
  }
  return *ctx;
}

cudaStream_t stream() { return context().compute; }

cudnnHandle_t cudnn() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t handle;
    MN_CUDNN_CHECK(cudnnCreate(&handle));
    MN_CUDNN_CHECK(cudnnSetStream(handle, stream()));
    return handle;
  }();
  return h;
}

namespace {

// MN_CUBLAS_BIND(fn, name): fn <- cuBLAS's function of that exported name, from the library CMake
// found (MN_CUBLAS_LIBRARY is its path), or in the emulator build the emulator's own definition.
#ifdef MN_CUBLAS_LIBRARY
void* cublas_symbol(const char* name) {
  static void* const lib = [] {
    void* l = dlopen(MN_CUBLAS_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!l) fail("cublas: cannot load ", MN_CUBLAS_LIBRARY, ": ", dlerror());
    return l;
  }();
  void* fn = dlsym(lib, name);
  if (!fn) fail("cublas: ", MN_CUBLAS_LIBRARY, " has no ", name);
  return fn;
}
#define MN_CUBLAS_BIND(fn, name) fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(cublas_symbol(#name))
#else
#define MN_CUBLAS_BIND(fn, name) fn = &name
#endif

}  // namespace

const Cublas& cublas() {
  static const Cublas api = [] {
    Cublas c;
    MN_CUBLAS_BIND(c.gemm_ex, cublasGemmEx);
    MN_CUBLAS_BIND(c.sgemm, cublasSgemm_v2);
    MN_CUBLAS_BIND(c.status_name, cublasGetStatusName);
    MN_CUBLAS_BIND(c.status_string, cublasGetStatusString);
    decltype(&cublasCreate_v2) create;
    decltype(&cublasSetStream_v2) set_stream;
    decltype(&cublasSetMathMode) set_math_mode;
    MN_CUBLAS_BIND(create, cublasCreate_v2);
    MN_CUBLAS_BIND(set_stream, cublasSetStream_v2);
    MN_CUBLAS_BIND(set_math_mode, cublasSetMathMode);
    // Not MN_CUBLAS_CHECK: its message reads the status names through cublas(), not made yet.
    auto check = [&c](cublasStatus_t s, const char* call) {
      if (s != CUBLAS_STATUS_SUCCESS)
        fail("cublas: ", call, " failed: ", c.status_name(s), " (", c.status_string(s), ")");
    };
    check(create(&c.handle), "cublasCreate");
    check(set_stream(c.handle, stream()), "cublasSetStream");
    // Full float32 products, as PyTorch's default (torch.backends.cuda.matmul.allow_tf32 = False).
    check(set_math_mode(c.handle, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    return c;
  }();
  return api;
}

int num_sms() { return context().props.multiProcessorCount; }

Buffer::Buffer(size_t nbytes) : nbytes_(nbytes) {
  if (nbytes_) ptr_ = context().allocator->allocate(nbytes_);
}

Buffer::~Buffer() {
  if (ptr_) context().allocator->deallocate(ptr_, nbytes_);
}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    if (ptr_) context().allocator->deallocate(ptr_, nbytes_);
    ptr_ = o.ptr_;
    nbytes_ = o.nbytes_;
    o.ptr_ = nullptr;
    o.nbytes_ = 0;
  }
  return *this;
}

void require_dtype(const char* op, DType dtype, std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors)
    MN_CHECK(!t->defined() || t->dtype() == dtype, op, ": the CUDA backend expects ", dtype_name(dtype),
             " here, got ", dtype_name(t->dtype()));
}

}  // namespace cuda
}  // namespace mn
