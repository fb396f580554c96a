// Image decoding: JPEG through libjpeg-turbo's TurboJPEG API (with DCT-domain scaled decoding),
// PNG/BMP/PGM/PPM/TGA/GIF through stb_image. Every failure is an ImageError naming the file;
// nothing here can exit the process.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "data/image.h"

namespace mn::data {

struct ImageHeader {
  int width = 0, height = 0;
  bool jpeg = false;
};

// Reads the size without decoding the pixels. `name` (usually the path) appears in errors.
ImageHeader read_image_header(std::span<const uint8_t> bytes, const std::string& name);

struct DecodedImage {
  ImageU8 image;
  // image pixel edges are at `scale` times the original's: x_original = x_image / scale.
  double scale = 1.0;
};

// Decodes to `channels` (1: gray, 3: RGB) whatever the file holds (gray, RGB, CMYK/YCCK JPEG,
// palette or alpha PNG). For a JPEG, decodes at the smallest DCT scale among 1/8, 1/4, 1/2 that is
// at least `min_scale` (1 = full size), which costs a fraction of a full decode; other formats
// always decode at full size (scale 1).
DecodedImage decode_image(std::span<const uint8_t> bytes, int channels, const std::string& name,
                          double min_scale = 1.0);

// The DCT scale decode_image would use for a JPEG of this size (1 when scaling does not apply).
double jpeg_decode_scale(int width, int height, double min_scale);

}  // namespace mn::data
