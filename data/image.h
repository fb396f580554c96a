// Images on the host as the data layer passes them between decoders and transforms:
// ImageU8 holds 8-bit pixels (H, W, C) row-major, C = 1 (gray) or 3 (RGB), as decoders produce them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/error.h"

namespace mn::data {

// An allocator that leaves new bytes uninitialised: decoders and resizers overwrite every pixel,
// and zeroing a decoded photo first costs a few percent of decoding it.
template <class T>
struct UninitializedAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using Bytes = std::vector<uint8_t, UninitializedAllocator<uint8_t>>;

struct ImageU8 {
  int height = 0, width = 0, channels = 0;
  Bytes pixels;  // (H, W, C), uninitialised until written

  ImageU8() = default;
  ImageU8(int h, int w, int c) : height(h), width(w), channels(c), pixels(size_t(h) * w * c) {}
  uint8_t* row(int y) { return pixels.data() + size_t(y) * width * channels; }
  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * width * channels; }
};

// A bad image: unreadable, truncated or corrupt file. Loaders may skip these (on_bad_image = "skip");
// every other error stops the run.
struct ImageError : Error {
  using Error::Error;
};

}  // namespace mn::data
