// GPU memory through the shared caching allocator (tensor/caching_allocator.h), and cached
// page-locked host memory.
//
// Device blocks are only ever used on the compute stream (copy-stream writes are ordered after it
// with an event), so a block freed while kernels that read it are still queued can be handed out
// again at once: the next user is queued behind them.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

#include "tensor/caching_allocator.h"

namespace mn::cuda {

class DeviceAllocator {
 public:
  DeviceAllocator();
  void* allocate(size_t nbytes);  // throws mn::Error naming sizes when the GPU is out of memory
  void deallocate(void* ptr, size_t nbytes) { cache_.deallocate(ptr, nbytes); }
  MemoryStats stats() { return cache_.stats(); }
  void reset_peak() { cache_.reset_peak(); }
  void empty_cache() { cache_.empty_cache(); }  // cudaFree of every idle block (synchronises)

 private:
  CachingAllocator cache_;
};

// Page-locked host blocks, cached by size like device blocks. An asynchronous copy out of a block
// records an event on it; the block is not handed out again until that event has completed, so the
// host can free a batch right after queueing its copy.
class PinnedAllocator {
 public:
  void* allocate(size_t nbytes);
  void deallocate(void* ptr);
  // The start of the pinned block holding [ptr, ptr + nbytes), or nullptr if it is not pinned.
  void* find_block(const void* ptr, size_t nbytes);
  void record_use(void* block, cudaStream_t stream);  // block from find_block
  void empty_cache();

 private:
  struct Block {
    size_t size = 0;
    bool in_use = false;
    cudaEvent_t last_use = nullptr;  // recorded after the latest asynchronous copy out of it
  };
  std::mutex mu_;
  std::map<const char*, Block> blocks_;  // by start address
};

}  // namespace mn::cuda
