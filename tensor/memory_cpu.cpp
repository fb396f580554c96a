// CPU memory: 64-byte aligned host allocations (cache lines, AVX loads) and plain memcpy.
#include <cstdlib>
#include <cstring>

#include "tensor/cpu_backend.h"

namespace mn {

void* CpuBackend::allocate(size_t nbytes) {
  void* p = std::aligned_alloc(64, (nbytes + 63) / 64 * 64);
  MN_CHECK(p, "out of host memory allocating ", nbytes, " bytes");
  return p;
}

void CpuBackend::deallocate(void* ptr, size_t) { std::free(ptr); }

void CpuBackend::copy_bytes(void* dst, Device dst_device, const void* src, Device src_device,
                            size_t nbytes) {
  MN_CHECK(dst_device.is_cpu() && src_device.is_cpu(), "cpu backend: cannot copy between ",
           src_device.str(), " and ", dst_device.str());
  std::memcpy(dst, src, nbytes);
}

void CpuBackend::synchronize() {}

}  // namespace mn
