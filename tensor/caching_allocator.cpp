// The caching allocator shared by the CPU and CUDA backends (see caching_allocator.h).
#include "tensor/caching_allocator.h"

#include <algorithm>

namespace mn {

size_t CachingAllocator::bucket_size(size_t nbytes) {
  if (nbytes <= 4096) return (std::max<size_t>(nbytes, 1) + 511) / 512 * 512;
  size_t octave = 4096;  // largest power of two <= nbytes
  while (octave * 2 <= nbytes) octave *= 2;
  const size_t step = octave / 8;
  return (nbytes + step - 1) / step * step;
}

// A request may take an idle block up to this many times its bucket.
constexpr size_t kMaxOversize = 2;

void* CachingAllocator::allocate(size_t nbytes) {
  size_t size = bucket_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  void* ptr = nullptr;
  auto it = free_.lower_bound(size);
  if (it != free_.end() && it->first <= kMaxOversize * size) {
    size = it->first;
    ptr = it->second.back();
    it->second.pop_back();
    if (it->second.empty()) free_.erase(it);
    cached_ -= size;
  } else {
    ptr = raw_.allocate(size);
    if (!ptr) {  // idle blocks of other sizes may be what is missing
      release_cached_locked();
      ptr = raw_.allocate(size);
    }
    if (!ptr) return nullptr;
    reserved_ += size;
  }
  live_[ptr] = size;
  allocated_ += size;
  if (allocated_ > peak_) peak_ = allocated_;
  return ptr;
}

void CachingAllocator::deallocate(void* ptr, size_t) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto live = live_.find(ptr);
  const size_t size = live->second;
  live_.erase(live);
  allocated_ -= size;
  if (cached_ + size > max_cached_) {
    raw_.release(ptr);
    reserved_ -= size;
    return;
  }
  free_[size].push_back(ptr);
  cached_ += size;
}

MemoryStats CachingAllocator::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return {allocated_, peak_, reserved_};
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  peak_ = allocated_;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() {
  for (auto& [size, blocks] : free_) {
    for (void* p : blocks) raw_.release(p);
    reserved_ -= size * blocks.size();
  }
  free_.clear();
  cached_ = 0;
}

}  // namespace mn
