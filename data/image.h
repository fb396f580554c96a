// Images on the host as the data layer passes them between decoders and transforms:
// ImageU8 holds 8-bit pixels (H, W, C) row-major, C = 1 (gray) or 3 (RGB), as decoders produce them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace mn::data {

struct ImageU8 {
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // (H, W, C)

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
