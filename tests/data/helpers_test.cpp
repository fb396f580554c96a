// The helpers declared in helpers.h (a *_test.cpp so the test glob compiles it; it holds no tests),
// and the one definition of stb_image_write.
#include "tests/data/helpers.h"

#include <doctest/doctest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <random>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

namespace mn::data::testing {

ImageU8 natural_image(int height, int width, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  struct Disc {
    double x, y, r, color[3];
  };
  std::vector<Disc> discs(4);
  for (Disc& d : discs) d = {u(rng) * width, u(rng) * height, (0.1 + 0.2 * u(rng)) * std::min(width, height),
                             {u(rng) * 255, u(rng) * 255, u(rng) * 255}};
  const double phase = u(rng) * 6.28;
  std::normal_distribution<double> noise(0, 3);
  ImageU8 img(height, width, channels);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        double v = 128 + 90 * std::sin(phase + c + 3.0 * x / width + 2.0 * y / height);
        for (const Disc& d : discs)
          if (std::hypot(x - d.x, y - d.y) < d.r) v = 0.5 * v + 0.5 * d.color[c];
        v += noise(rng);
        img.row(y)[x * channels + c] = uint8_t(std::clamp(std::lround(v), 0l, 255l));
      }
  return img;
}

namespace {
std::vector<uint8_t> compress(const uint8_t* pixels, int w, int h, int format, int subsamp, int quality, int flags) {
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, pixels, w, 0, h, format, &out, &size, subsamp, quality, flags);
  const std::string message = rc ? tjGetErrorStr2(tj) : "";
  std::vector<uint8_t> bytes(out, out + (rc ? 0 : size));
  tjFree(out);
  tjDestroy(tj);
  MN_CHECK(rc == 0, "tjCompress2: ", message);
  return bytes;
}
}  // namespace

std::vector<uint8_t> encode_jpeg(const ImageU8& image, int quality, int subsamp, bool progressive) {
  const int format = image.channels == 1 ? TJPF_GRAY : TJPF_RGB;
  return compress(image.pixels.data(), image.width, image.height, format, subsamp, quality,
                  progressive ? TJFLAG_PROGRESSIVE : 0);
}

std::vector<uint8_t> encode_jpeg_cmyk(const ImageU8& rgb, int quality) {
  MN_CHECK(rgb.channels == 3, "encode_jpeg_cmyk: needs RGB");
  std::vector<uint8_t> cmyk(size_t(rgb.width) * rgb.height * 4);
  for (size_t i = 0; i < size_t(rgb.width) * rgb.height; ++i) {
    // libjpeg-turbo's rgb_to_cmyk (inverted CMYK: 255 = no ink).
    const uint8_t* p = rgb.pixels.data() + 3 * i;
    const double c = 1 - p[0] / 255.0, m = 1 - p[1] / 255.0, y = 1 - p[2] / 255.0;
    const double k = std::min({c, m, y});
    uint8_t* q = cmyk.data() + 4 * i;
    q[3] = uint8_t(255 - k * 255 + 0.5);
    if (k == 1.0) {
      q[0] = q[1] = q[2] = 255;
    } else {
      q[0] = uint8_t(255 - (c - k) / (1 - k) * 255 + 0.5);
      q[1] = uint8_t(255 - (m - k) / (1 - k) * 255 + 0.5);
      q[2] = uint8_t(255 - (y - k) / (1 - k) * 255 + 0.5);
    }
  }
  return compress(cmyk.data(), rgb.width, rgb.height, TJPF_CMYK, TJSAMP_444, quality, 0);
}

std::vector<uint8_t> encode_png(const ImageU8& image) {
  std::vector<uint8_t> bytes;
  auto sink = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  MN_CHECK(stbi_write_png_to_func(sink, &bytes, image.width, image.height, image.channels, image.pixels.data(),
                                  image.width * image.channels),
           "stbi_write_png_to_func failed");
  return bytes;
}

double psnr(const ImageU8& a, const ImageU8& b) {
  MN_CHECK(a.height == b.height && a.width == b.width && a.channels == b.channels, "psnr: shapes differ: ",
           a.height, "x", a.width, "x", a.channels, " vs ", b.height, "x", b.width, "x", b.channels);
  double se = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = double(a.pixels[i]) - b.pixels[i];
    se += d * d;
  }
  const double mse = se / a.pixels.size();
  return mse == 0 ? 99.0 : 10 * std::log10(255.0 * 255.0 / mse);
}

std::vector<Batch> epoch(BatchSource& loader, int64_t e, int64_t first) {
  loader.start_epoch(e, first);
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

void check_same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].epoch == b[i].epoch);
    CHECK(a[i].index == b[i].index);
    CHECK(a[i].indices == b[i].indices);
    CHECK(a[i].resolutions == b[i].resolutions);
    CHECK(a[i].labels.to_vector<int64_t>() == b[i].labels.to_vector<int64_t>());
    REQUIRE(a[i].images.size() == b[i].images.size());
    for (size_t k = 0; k < a[i].images.size(); ++k) {
      CHECK(a[i].images[k].shape() == b[i].images[k].shape());
      CHECK(a[i].images[k].to_vector<float>() == b[i].images[k].to_vector<float>());
    }
  }
}

}  // namespace mn::data::testing
