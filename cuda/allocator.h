// Caching allocators for GPU memory and page-locked host memory.
//
// MutualNet changes width and resolution every forward pass, so every step allocates tensors of
// new sizes; cudaMalloc/cudaFree per tensor would synchronise the device and fragment memory.
// DeviceAllocator rounds each request up to a size bucket (512 B steps below 4 KiB, then eight
// buckets per power of two, so at most 12.5% is wasted) and keeps freed blocks per bucket for the
// next request of that bucket. Blocks are only ever used on the compute stream (copy-stream writes
// are ordered after it with an event), so a block freed while kernels that read it are still
// queued can be handed out again at once: the next user is queued behind them.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensor/backend.h"

namespace mn::cuda {

class DeviceAllocator {
 public:
  static size_t bucket_size(size_t nbytes);
  void* allocate(size_t nbytes);  // throws mn::Error naming sizes when the GPU is out of memory
  void deallocate(void* ptr, size_t nbytes);
  MemoryStats stats();
  void reset_peak();
  void empty_cache();  // cudaFree of every cached block (synchronises the device)

 private:
  void release_cached_locked();
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // bucket size -> cached blocks
  size_t allocated_ = 0, peak_ = 0, reserved_ = 0;
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
