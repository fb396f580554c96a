// Shared by the CUDA-vs-CPU tests: the skip rule and comparisons that require a GPU result.
//
// Every test case starts with `if (!test::gpu_or_skip()) return;`. Without a usable GPU (or in a
// build without CUDA) the case reports why as a doctest MESSAGE and passes; with MN_REQUIRE_GPU=1
// in the environment (`make test-gpu`, tools/gpu_check.sh) a missing GPU fails it instead.
#pragma once
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tests/common/test_util.h"

namespace mn::test {

inline bool gpu_or_skip() {
  if (cuda_available()) return true;
#ifdef MN_HAVE_CUDA
  const std::string why = "no CUDA device is visible";
#else
  const std::string why = "this build has no CUDA backend";
#endif
  const char* require = std::getenv("MN_REQUIRE_GPU");
  if (require && std::strcmp(require, "0") != 0) {
    FAIL("MN_REQUIRE_GPU is set but ", why);
    return false;
  }
  MESSAGE("skipped: ", why, " (set MN_REQUIRE_GPU=1 to make this a failure)");
  return false;
}

inline Device gpu() { return Device::cuda(0); }

// The GPU's activation layout for one scope; NCHW (the backend's start) again after it.
struct MemoryFormatGuard {
  explicit MemoryFormatGuard(MemoryFormat f) { backend(gpu()).set_memory_format(f); }
  ~MemoryFormatGuard() { backend(gpu()).set_memory_format(MemoryFormat::contiguous); }
  MemoryFormatGuard(const MemoryFormatGuard&) = delete;
  MemoryFormatGuard& operator=(const MemoryFormatGuard&) = delete;
};

// The shared comparisons for a GPU result against the CPU's; an op that hands back a CPU tensor
// for GPU inputs fails here instead of comparing the CPU with itself.
inline void check_gpu_close(const Tensor& gpu_result, const Tensor& cpu_result, double rtol, double atol,
                            const std::string& what) {
  REQUIRE_MESSAGE(gpu_result.device().is_cuda(), what);
  check_close(gpu_result, cpu_result, rtol, atol, what);
}

inline void check_gpu_close_scaled(const Tensor& gpu_result, const Tensor& cpu_result, double rtol,
                                   const std::string& what) {
  REQUIRE_MESSAGE(gpu_result.device().is_cuda(), what);
  check_close_scaled(gpu_result, cpu_result, rtol, what);
}

inline void check_gpu_equal(const Tensor& gpu_result, const Tensor& cpu_result, const std::string& what) {
  REQUIRE_MESSAGE(gpu_result.device().is_cuda(), what);
  check_equal(gpu_result, cpu_result, what);
}

// The convolutions the bf16 and channels-last tests cover: dense, strided, strided 1x1,
// depthwise, and the 3-channel image conv.
struct ConvCase {
  Shape x, w;
  Conv2dArgs args;
};
inline std::vector<ConvCase> conv_cases() {
  return {{{8, 16, 12, 12}, {32, 16, 3, 3}, conv_args(1, 1)},
          {{8, 32, 12, 12}, {64, 32, 3, 3}, conv_args(2, 1)},
          {{8, 32, 10, 10}, {64, 32, 1, 1}, conv_args(2, 0)},
          {{4, 24, 9, 9}, {24, 1, 3, 3}, conv_args(1, 1, 1, 24)},
          {{4, 3, 16, 16}, {16, 3, 3, 3}, conv_args(1, 1)}};
}

}  // namespace mn::test
