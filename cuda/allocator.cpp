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

}  // namespace

size_t DeviceAllocator::bucket_size(size_t nbytes) {
  if (nbytes <= 4096) return (nbytes + 511) / 512 * 512;
  size_t octave = 4096;  // largest power of two <= nbytes
  while (octave * 2 <= nbytes) octave *= 2;
  const size_t step = octave / 8;
  return (nbytes + step - 1) / step * step;
}

void* DeviceAllocator::allocate(size_t nbytes) {
  const size_t size = bucket_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  void* ptr = nullptr;
  auto it = free_.find(size);
  if (it != free_.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
  } else {
    cudaError_t e = cudaMalloc(&ptr, size);
    if (e == cudaErrorMemoryAllocation) {
      // Cached blocks of other sizes may be what is missing: give them back and try once more.
      cudaGetLastError();
      release_cached_locked();
      e = cudaMalloc(&ptr, size);
    }
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      fail("cuda: out of memory allocating ", mib(size), " on ", context().props.name, " (",
           mib(allocated_), " in use by mn, ", mib(free_bytes), " free of ", mib(total_bytes),
           ")");
    }
    MN_CUDA_CHECK(e);
    reserved_ += size;
  }
  allocated_ += size;
  if (allocated_ > peak_) peak_ = allocated_;
  return ptr;
}

void DeviceAllocator::deallocate(void* ptr, size_t nbytes) {
  const size_t size = bucket_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  free_[size].push_back(ptr);
  allocated_ -= size;
}

MemoryStats DeviceAllocator::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return {allocated_, peak_, reserved_};
}

void DeviceAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  peak_ = allocated_;
}

void DeviceAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

void DeviceAllocator::release_cached_locked() {
  // cudaFree waits for the device, so kernels still reading a cached block finish first.
  for (auto& [size, blocks] : free_) {
    for (void* p : blocks) {
      MN_CUDA_CHECK(cudaFree(p));
      reserved_ -= size;
    }
    blocks.clear();
  }
}

// ---- pinned host memory -----------------------------------------------------------------------

void* PinnedAllocator::allocate(size_t nbytes) {
  const size_t size = DeviceAllocator::bucket_size(nbytes);
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
