// Shared helpers of the data tests: synthetic images with known content, encoders to write them
// as JPEG (TurboJPEG) or PNG (stb_image_write), and loader epochs compared batch by batch.
// Defined in helpers_test.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/loader.h"
#include "io/files.h"

namespace mn::data::testing {

// Smooth gradients, a few discs and mild noise: compresses like a photograph, not like noise.
ImageU8 natural_image(int height, int width, int channels, uint32_t seed);

// subsamp: TJSAMP_444 / 422 / 420 / GRAY from turbojpeg.h.
std::vector<uint8_t> encode_jpeg(const ImageU8& image, int quality, int subsamp, bool progressive = false);
// An RGB image written as a CMYK (YCCK) JPEG with libjpeg-turbo's inverted-CMYK convention.
std::vector<uint8_t> encode_jpeg_cmyk(const ImageU8& rgb, int quality);
std::vector<uint8_t> encode_png(const ImageU8& image);  // 1, 3 or 4 channels

inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

double psnr(const ImageU8& a, const ImageU8& b);  // dB, 8-bit peak; requires equal shapes

// The batches of epoch e from batch `first` on.
std::vector<Batch> epoch(BatchSource& loader, int64_t e, int64_t first = 0);
// The same batches: positions, indices, labels and every resolution's pixels, exactly.
void check_same(const std::vector<Batch>& a, const std::vector<Batch>& b);

}  // namespace mn::data::testing
