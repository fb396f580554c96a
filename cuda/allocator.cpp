// The device pool and the caching pinned-host allocator (see allocator.h for the policy).
#include "cuda/allocator.h"

#include <cstdio>

#include "cuda/common.h"
#include "tensor/caching_allocator.h"

namespace mn::cuda {

namespace {

std::string mib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

}  // namespace

DeviceAllocator::DeviceAllocator(int device, cudaStream_t stream) : stream_(stream) {
  int supported = 0;
  MN_CUDA_CHECK(cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device));
  MN_CHECK(supported, "cuda: device ", device, " (or its driver) has no stream-ordered memory pools "
           "(cudaMallocAsync), which mn allocates device memory from");
  cudaMemPoolProps props{};
  props.allocType = cudaMemAllocationTypePinned;
  props.handleTypes = cudaMemHandleTypeNone;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = device;
  MN_CUDA_CHECK(cudaMemPoolCreate(&pool_, &props));
  // Keep freed memory for the next step instead of returning it at every synchronisation.
  uint64_t keep_all = UINT64_MAX;
  MN_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep_all));
}

void* DeviceAllocator::allocate(size_t nbytes) {
  void* ptr = nullptr;
  cudaError_t e = cudaMallocFromPoolAsync(&ptr, nbytes, pool_, stream_);
  if (e == cudaErrorMemoryAllocation) {
    // Memory freed on the stream but not yet returned may be what is missing: wait for it, hand
    // every idle byte back and try once more.
    cudaGetLastError();
    MN_CUDA_CHECK(cudaStreamSynchronize(stream_));
    MN_CUDA_CHECK(cudaMemPoolTrimTo(pool_, 0));
    e = cudaMallocFromPoolAsync(&ptr, nbytes, pool_, stream_);
  }
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clears the error: out of memory is reported here, with sizes
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    fail("cuda: out of memory allocating ", mib(nbytes), " on ", context().props.name, " (",
         mib(stats().allocated), " in use by mn, ", mib(free_bytes), " free of ", mib(total_bytes), ")");
  }
  MN_CUDA_CHECK(e);
  std::lock_guard<std::mutex> lock(mu_);
  allocated_ += nbytes;
  if (allocated_ > peak_) peak_ = allocated_;
  return ptr;
}

void DeviceAllocator::deallocate(void* ptr, size_t nbytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    allocated_ -= nbytes;
  }
  // Never throws: it runs in destructors. A failure is a tensor outliving the CUDA runtime at
  // process exit (its memory goes with the process) or a sticky error that the next checked call
  // reports.
  if (cudaFreeAsync(ptr, stream_) != cudaSuccess) cudaGetLastError();
}

MemoryStats DeviceAllocator::stats() {
  uint64_t reserved = 0;
  MN_CUDA_CHECK(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &reserved));
  std::lock_guard<std::mutex> lock(mu_);
  return {allocated_, peak_, static_cast<size_t>(reserved)};
}

void DeviceAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  peak_ = allocated_;
}

void DeviceAllocator::empty_cache() { MN_CUDA_CHECK(cudaMemPoolTrimTo(pool_, 0)); }

// ---- pinned host memory -----------------------------------------------------------------------

void* PinnedAllocator::allocate(size_t nbytes) {
  const size_t size = CachingAllocator::bucket_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [start, b] : blocks_) {
    if (b.in_use || b.size != size || in_flight(b)) continue;
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

bool PinnedAllocator::in_flight(const Block& b) {
  if (!b.last_use) return false;
  const cudaError_t e = cudaEventQuery(b.last_use);
  if (e == cudaErrorNotReady) {
    cudaGetLastError();
    return true;
  }
  MN_CUDA_CHECK(e);
  return false;
}

std::map<const char*, PinnedAllocator::Block>::iterator PinnedAllocator::containing(const void* ptr, size_t nbytes) {
  const char* p = static_cast<const char*>(ptr);
  auto it = blocks_.upper_bound(p);
  if (it == blocks_.begin()) return blocks_.end();
  --it;
  return p + nbytes > it->first + it->second.size ? blocks_.end() : it;
}

void* PinnedAllocator::find_block(const void* ptr, size_t nbytes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containing(ptr, nbytes);
  return it == blocks_.end() ? nullptr : const_cast<char*>(it->first);
}

bool PinnedAllocator::copy_in_flight(const void* ptr) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containing(ptr, 1);
  return it != blocks_.end() && in_flight(it->second);
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
