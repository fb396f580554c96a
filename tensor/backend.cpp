// Picks the backend for a device. The CUDA backend lives in cuda/ and is linked only when mn is
// built with CUDA; without it, asking for a CUDA device is an mn::Error.
#include "tensor/backend.h"

#include "tensor/cpu_backend.h"

namespace mn {

Backend& backend(Device device) {
  static CpuBackend cpu;
  if (device.is_cpu()) return cpu;
  return cuda_backend();
}

#ifndef MN_HAVE_CUDA
bool cuda_available() { return false; }
bool cuda_bf16_supported() { return false; }
Backend& cuda_backend() { fail("this build of mn has no CUDA backend (rebuild with the CUDA toolkit)"); }
#endif

}  // namespace mn
