// A size-bucketed caching allocator over a raw allocator: the CPU's aligned host memory. (GPU
// memory comes from a cudaMallocAsync pool instead, cuda/allocator.h; pinned host blocks use these
// buckets.)
//
// MutualNet changes width and resolution every forward pass, so every step allocates tensors of
// new sizes. Raw allocation per tensor is slow on both devices: cudaMalloc/cudaFree synchronise
// the GPU and fragment its memory, and on the host every large malloc is a fresh mmap whose pages
// the kernel faults in and zeroes again (a fifth of an evaluation's time before this cache).
// Requests are rounded up to a bucket (512 B steps up to 4 KiB, then eight buckets per power of
// two, so at most 12.5% is wasted) and freed blocks are kept for the next request. A request takes
// the smallest idle block of its bucket or larger, up to twice its size: with exact buckets only,
// MutualNet's random widths leave idle blocks of every size they ever drew, and a CPU run's
// resident memory climbed past 2 GB for a 500 MB step. When the raw allocator fails, the cached
// blocks are handed back and it is tried once more; a cache limit bounds what is kept idle.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensor/backend.h"

namespace mn {

class CachingAllocator {
 public:
  struct Raw {
    void* (*allocate)(size_t nbytes);  // nullptr when out of memory
    void (*release)(void* ptr);
  };
  // max_cached: idle bytes kept at most; a freed block that would exceed it is released at once.
  explicit CachingAllocator(Raw raw, size_t max_cached = SIZE_MAX) : raw_(raw), max_cached_(max_cached) {}
  ~CachingAllocator() = default;  // cached blocks die with the process (the GPU context may be gone)
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  static size_t bucket_size(size_t nbytes);
  void* allocate(size_t nbytes);  // nullptr when out of memory even after emptying the cache
  void deallocate(void* ptr, size_t nbytes);  // nbytes as requested; the block's size is known
  MemoryStats stats();
  void reset_peak();
  void empty_cache();

 private:
  void release_cached_locked();
  Raw raw_;
  size_t max_cached_;
  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;  // block size -> idle blocks (never empty vectors)
  std::unordered_map<void*, size_t> live_;      // handed-out block -> its size
  size_t allocated_ = 0, peak_ = 0, reserved_ = 0, cached_ = 0;
};

}  // namespace mn
