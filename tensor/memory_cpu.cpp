// CPU memory: 64-byte aligned host blocks (cache lines, AVX loads) from a caching allocator, and
// plain memcpy.
#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include "tensor/caching_allocator.h"
#include "tensor/cpu_backend.h"

namespace mn {
namespace {

// Idle blocks kept for reuse: enough for the activations of any CPU-sized run, small next to the
// machine's memory.
constexpr size_t kMaxCachedBytes = size_t(2) << 30;

// Never destroyed: tensors in static objects may be freed after it would have been.
CachingAllocator& host_allocator() {
  static CachingAllocator* allocator = new CachingAllocator(
      {[](size_t n) { return std::aligned_alloc(64, (n + 63) / 64 * 64); }, [](void* p) { std::free(p); }},
      kMaxCachedBytes);
  return *allocator;
}

}  // namespace

void* CpuBackend::allocate(size_t nbytes) {
  void* p = host_allocator().allocate(nbytes);
  MN_CHECK(p, "out of host memory allocating ", nbytes, " bytes");
  return p;
}

void CpuBackend::deallocate(void* ptr, size_t nbytes) { host_allocator().deallocate(ptr, nbytes); }

MemoryStats CpuBackend::memory_stats() { return host_allocator().stats(); }
void CpuBackend::reset_peak_memory() { host_allocator().reset_peak(); }
// malloc_trim: the freed blocks below glibc's mmap threshold stay in its heap, resident, until
// trimmed.
void CpuBackend::empty_cache() {
  host_allocator().empty_cache();
  malloc_trim(0);
}

void CpuBackend::copy_bytes(void* dst, Device dst_device, const void* src, Device src_device,
                            size_t nbytes) {
  MN_CHECK(dst_device.is_cpu() && src_device.is_cpu(), "cpu backend: cannot copy between ",
           src_device.str(), " and ", dst_device.str());
  std::memcpy(dst, src, nbytes);
}

void CpuBackend::synchronize() {}

}  // namespace mn
