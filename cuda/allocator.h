// GPU memory from a CUDA stream-ordered memory pool (cudaMallocAsync), and cached page-locked host
// memory.
//
// Device memory: MutualNet changes width and resolution every forward pass, so every step asks
// for tensors of new sizes. A cache of whole blocks by size (tensor/caching_allocator.h, what the
// CPU uses) keeps idle blocks of every size ever drawn: reserved memory climbs well past the peak
// actually in use. The driver's pool splits its reserved memory to serve smaller requests and
// merges freed neighbours, which is what a GPU allocator needs here, and is simpler to get right
// than re-implementing PyTorch's split/merge cache: mn keeps only the accounting. Its release
// threshold is unlimited, so freed memory stays in the pool for the next step (empty_cache trims
// it).
//
// Allocation and free are ordered on the compute stream, where every device block is used
// (copy-stream writes are ordered after it with an event), so a block freed while kernels that
// read it are still queued can be handed out again at once: the next user is queued behind them.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

#include "tensor/backend.h"

namespace mn::cuda {

class DeviceAllocator {
 public:
  DeviceAllocator(int device, cudaStream_t stream);
  void* allocate(size_t nbytes);  // throws mn::Error naming sizes when the GPU is out of memory
  void deallocate(void* ptr, size_t nbytes);  // nbytes as allocated
  // allocated and peak count the bytes asked for; reserved is what the pool holds from the driver.
  MemoryStats stats();
  void reset_peak();
  void empty_cache();  // hands the pool's idle memory back to the driver (caller synchronises)

 private:
  cudaMemPool_t pool_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::mutex mu_;
  size_t allocated_ = 0, peak_ = 0;
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
  bool copy_in_flight(const void* ptr);  // whether the latest copy out of ptr's block is unfinished
  void empty_cache();

 private:
  struct Block {
    size_t size = 0;
    bool in_use = false;
    cudaEvent_t last_use = nullptr;  // recorded after the latest asynchronous copy out of it
  };
  static bool in_flight(const Block& b);
  // The block holding [ptr, ptr + nbytes), or end(); the caller holds mu_.
  std::map<const char*, Block>::iterator containing(const void* ptr, size_t nbytes);
  std::mutex mu_;
  std::map<const char*, Block> blocks_;  // by start address
};

}  // namespace mn::cuda
