// The caching device and pinned-host allocators (see allocator.h for the policy).
#include "cuda/allocator.h"

#include <cstdio>

#include "cuda/common.h"

namespace mn::cuda {

namespace {

std::string mib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

void* device_malloc(size_t nbytes) {
  void* ptr = nullptr;
  cudaError_t e = cudaMalloc(&ptr, nbytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clears the sticky error: out of memory is reported by the caller
    return nullptr;
  }
  MN_CUDA_CHECK(e);
  return ptr;
}

// cudaFree waits for the device, so kernels still reading a cached block finish first.
void device_free(void* ptr) { MN_CUDA_CHECK(cudaFree(ptr)); }

}  // namespace

DeviceAllocator::DeviceAllocator() : cache_({device_malloc, device_free}) {}

void* DeviceAllocator::allocate(size_t nbytes) {
  void* ptr = cache_.allocate(nbytes);
  if (!ptr) {
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    fail("cuda: out of memory allocating ", mib(CachingAllocator::bucket_size(nbytes)), " on ",
         context().props.name, " (", mib(cache_.stats().allocated), " in use by mn, ",
         mib(free_bytes), " free of ", mib(total_bytes), ")");
  }
  return ptr;
}

// ---- pinned host memory -----------------------------------------------------------------------

void* PinnedAllocator::allocate(size_t nbytes) {
  const size_t size = CachingAllocator::bucket_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [start, b] : blocks_) {
    if (b.in_use || b.size != size) continue;
    if (b.last_use) {
      cudaError_t e = cudaEventQuery(b.last_use);
      if (e == cudaErrorNotReady) {
        cudaGetLastError();
        continue;  // a copy out of it is still in flight
      }
      MN_CUDA_CHECK(e);
    }
    b.in_use = true;
    return const_cast<char*>(start);
  }
  void* ptr = nullptr;
  cudaError_t e = cudaHostAlloc(&ptr, size, cudaHostAllocDefault);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    fail("cuda: out of page-locked host memory allocating ", mib(size));
  }
  MN_CUDA_CHECK(e);
  Block& b = blocks_[static_cast<const char*>(ptr)];
  b.size = size;
  b.in_use = true;
  return ptr;
}

void PinnedAllocator::deallocate(void* ptr) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blocks_.find(static_cast<const char*>(ptr));
  MN_CHECK(it != blocks_.end(), "cuda: deallocate_pinned of memory that is not pinned");
  it->second.in_use = false;
}

void* PinnedAllocator::find_block(const void* ptr, size_t nbytes) {
  std::lock_guard<std::mutex> lock(mu_);
  const char* p = static_cast<const char*>(ptr);
  auto it = blocks_.upper_bound(p);
  if (it == blocks_.begin()) return nullptr;
  --it;
  if (p + nbytes > it->first + it->second.size) return nullptr;
  return const_cast<char*>(it->first);
}

void PinnedAllocator::record_use(void* block, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  Block& b = blocks_.at(static_cast<const char*>(block));
  if (!b.last_use) MN_CUDA_CHECK(cudaEventCreateWithFlags(&b.last_use, cudaEventDisableTiming));
  MN_CUDA_CHECK(cudaEventRecord(b.last_use, stream));
}

void PinnedAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = blocks_.begin(); it != blocks_.end();) {
    if (it->second.in_use) {
      ++it;
      continue;
    }
    if (it->second.last_use) {
      MN_CUDA_CHECK(cudaEventSynchronize(it->second.last_use));
      MN_CUDA_CHECK(cudaEventDestroy(it->second.last_use));
    }
    MN_CUDA_CHECK(cudaFreeHost(const_cast<char*>(it->first)));
    it = blocks_.erase(it);
  }
}

}  // namespace mn::cuda
