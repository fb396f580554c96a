// Internal to cuda/'s kernels: where element (n, c, p) of an (N, C, H, W) activation lies, p = h * W
// + w being its position within its plane, in NCHW (planes contiguous) or NHWC (channels
// contiguous: channels-last activations, Backend::memory_format). The pooling, resize and padding
// kernels walk their output in memory order through locate(), so consecutive threads write
// consecutive addresses in either layout, and read their inputs through offset().
#pragma once
#include <cstdint>

#include "cuda/common.h"

namespace mn::cuda {

struct Layout {
  int64_t channels;
  bool nhwc;
};

// The layout every activation handed to this backend is in now.
inline Layout activation_layout(int64_t channels) { return {channels, channels_last()}; }

struct Pos {
  int64_t n, c, p;
};

// Element i in memory order of a tensor with `plane` values per plane.
__device__ __forceinline__ Pos locate(Layout l, int64_t i, int64_t plane) {
  if (l.nhwc) {
    const int64_t pixel = i / l.channels;  // n * plane + p
    return {pixel / plane, i % l.channels, pixel % plane};
  }
  const int64_t nc = i / plane;
  return {nc / l.channels, nc % l.channels, i % plane};
}

// Offset of element (n, c, p) of a tensor with `plane` values per plane.
__device__ __forceinline__ int64_t offset(Layout l, int64_t n, int64_t c, int64_t p, int64_t plane) {
  return l.nhwc ? (n * plane + p) * l.channels + c : (n * l.channels + c) * plane + p;
}

}  // namespace mn::cuda
