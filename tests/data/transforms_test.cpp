// Transforms against their torchvision definitions on small known inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <algorithm>
#include <numeric>
#include <set>

#include "data/transforms.h"
#include "tests/data/helpers.h"

using namespace mn;
using namespace mn::data;

namespace {
// Runs a pipeline on an in-memory image; returns the float (C, S, S) result.
std::vector<float> run(const Pipeline& p, const ImageU8& img, int out_size, uint64_t seed = 1) {
  RawSample s;
  s.name = "test";
  s.image = img;
  std::vector<float> out(size_t(img.channels) * out_size * out_size);
  Generator rng(seed);
  p.run(s, img.channels, rng, out, out_size);
  return out;
}
ImageU8 ramp(int h, int w, int c) {
  ImageU8 img(h, w, c);
  std::iota(img.pixels.begin(), img.pixels.end(), uint8_t(0));
  return img;
}
}  // namespace

TEST_CASE("random_resized_crop boxes follow torchvision's get_params") {
  const RandomResizedCrop t{224, 0.25, 1.0, 3.0 / 4, 4.0 / 3};
  Generator rng(7);
  for (int i = 0; i < 500; ++i) {
    const CropBox b = random_resized_crop_box(375, 500, t, rng);
    REQUIRE(b.top >= 0);
    REQUIRE(b.left >= 0);
    REQUIRE(b.top + b.height <= 375);
    REQUIRE(b.left + b.width <= 500);
    const double area = double(b.height) * b.width / (375.0 * 500);
    // Rounding the sides moves the area and ratio a little past the sampled ranges.
    CHECK(area > 0.24);
    CHECK(area < 1.01);
    CHECK(double(b.width) / b.height > 0.74);
    CHECK(double(b.width) / b.height < 1.35);
  }
  // A range no box can satisfy falls back to the central crop of the nearest allowed ratio:
  // 100x10 (ratio 10) with ratio <= 4/3 -> width round(10 * 4/3) = 13, centered.
  const RandomResizedCrop thin{8, 0.99, 1.0, 3.0 / 4, 4.0 / 3};
  const CropBox b = random_resized_crop_box(10, 100, thin, rng);
  CHECK(b.height == 10);
  CHECK(b.width == 13);
  CHECK(b.top == 0);
  CHECK(b.left == 43);
}

TEST_CASE("resize and center_crop sizes and offsets (torchvision rounding)") {
  CHECK(resize_shorter_size(375, 500, 256) == std::pair{256, 341});  // int(256 * 500 / 375) = 341
  CHECK(resize_shorter_size(500, 375, 256) == std::pair{341, 256});
  CHECK(resize_shorter_size(300, 300, 256) == std::pair{256, 256});
  const CropBox c = center_crop_box(256, 341, 224);
  CHECK(c.top == 16);
  CHECK(c.left == 58);  // round(117 / 2 = 58.5) = 58, half to even like Python
  CHECK(center_crop_box(5, 5, 2).left == 2);   // round(1.5) = 2
  CHECK(center_crop_box(3, 3, 6).top == -1);   // torchvision pads (6 - 3) // 2 = 1 before

  // Resize(2) of a 4x6 ramp then CenterCrop(2): the middle 2x2 of the 2x3 downscale.
  const Pipeline p({Resize{2}, CenterCrop{2}});
  CHECK(p.output_size() == 2);
  ImageU8 img(4, 6, 1);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x) img.row(y)[x] = uint8_t(10 * x);  // constant down the columns
  const std::vector<float> out = run(p, img, 2);
  // Columns 6 -> 3 (antialiased, triangle of radius 2 centered at 1, 3, 5): the first output
  // weighs columns 0, 1, 2 by 0.75, 0.75, 0.25 (column -1 is outside): 12.5 / 1.75 = 7.14 -> 7;
  // the second columns 1..4 by 0.25, 0.75, 0.75, 0.25: 25. Crop offset round(0.5) = 0.
  CHECK(out[0] == doctest::Approx(7 / 255.0));
  CHECK(out[1] == doctest::Approx(25 / 255.0));
  CHECK(out[2] == doctest::Approx(7 / 255.0));
}

TEST_CASE("pad_random_crop with reflect and zero padding") {
  const ImageU8 img = ramp(3, 3, 1);  // 0 1 2 / 3 4 5 / 6 7 8
  // Size 5 with padding 1: the only window is the whole padded image.
  std::vector<float> r = run(Pipeline({PadRandomCrop{5, 1, PadMode::reflect}}), img, 5);
  const std::vector<int> reflect = {4, 3, 4, 5, 4, 1, 0, 1, 2, 1, 4, 3, 4, 5, 4, 7, 6, 7, 8, 7, 4, 3, 4, 5, 4};
  for (size_t i = 0; i < 25; ++i) CHECK(r[i] * 255 == doctest::Approx(reflect[i]));
  std::vector<float> z = run(Pipeline({PadRandomCrop{5, 1, PadMode::zero}}), img, 5);
  const std::vector<int> zero = {0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 5, 0, 0, 6, 7, 8, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < 25; ++i) CHECK(z[i] * 255 == doctest::Approx(zero[i]));
  // Crops of size 3 out of the padded 5x5 are windows of it: every offset appears.
  std::set<float> corners;
  for (uint64_t seed = 0; seed < 200; ++seed)
    corners.insert(run(Pipeline({PadRandomCrop{3, 1, PadMode::reflect}}), img, 3, seed)[0] * 255);
  CHECK(corners == std::set<float>{0, 1, 3, 4});  // top-left of the 9 windows: 4 3 4 / 1 0 1 / 4 3 4
  CHECK_THROWS_WITH_AS(run(Pipeline({PadRandomCrop{8, 1}}), img, 8),
                       "pad_random_crop: test padded to 5x5 is smaller than the crop 8", Error);
}

TEST_CASE("horizontal flip mirrors columns with probability p") {
  ImageU8 square = ramp(3, 3, 3);
  const std::vector<float> same = run(Pipeline({HorizontalFlip{0.0}}), square, 3);
  const std::vector<float> flipped = run(Pipeline({HorizontalFlip{1.0}}), square, 3);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 3; ++x) {
        const float v = square.row(y)[x * 3 + c] / 255.0f;
        CHECK(same[size_t(c * 9 + y * 3 + x)] == v);
        CHECK(flipped[size_t(c * 9 + y * 3 + (2 - x))] == v);
      }
  // Flipping float images (after normalize) agrees with flipping bytes.
  const Normalize n{{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}};
  CHECK(run(Pipeline({n, HorizontalFlip{1.0}}), square, 3) == run(Pipeline({HorizontalFlip{1.0}, n}), square, 3));
  // p = 0.5 flips about half the samples.
  int flips = 0;
  for (uint64_t seed = 0; seed < 400; ++seed) flips += run(Pipeline({HorizontalFlip{}}), square, 3, seed)[0] != same[0];
  CHECK(flips > 150);
  CHECK(flips < 250);
}

TEST_CASE("normalize and the uint8 -> float conversion") {
  ImageU8 img(1, 1, 3);
  img.pixels = {0, 51, 255};
  const std::vector<float> out = run(Pipeline({Normalize{{0.5, 0.2, 0.4}, {0.5, 0.1, 0.2}}}), img, 1);
  CHECK(out[0] == doctest::Approx(-1.0));
  CHECK(out[1] == doctest::Approx(0.0));
  CHECK(out[2] == doctest::Approx(3.0));
  CHECK(run(Pipeline(), img, 1) == std::vector<float>{0.0f, 51 / 255.0f, 1.0f});
}

TEST_CASE("color_jitter: brightness scales, contrast blends with the mean gray, saturation with the pixel's gray") {
  ImageU8 img(2, 2, 3);
  img.pixels = {200, 100, 50, 10, 20, 30, 100, 100, 100, 0, 255, 128};
  const std::vector<float> x = run(Pipeline(), img, 2);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    // Brightness only: one factor f in [0.6, 1.4] for every value, clamped at 1.
    const std::vector<float> b = run(Pipeline({ColorJitter{0.4, 0, 0}}), img, 2, seed);
    const double f = b[1] / x[1];  // 10/255 -> never clamped
    CHECK(f >= 0.6);
    CHECK(f <= 1.4);
    for (size_t i = 0; i < 12; ++i) CHECK(b[i] == doctest::Approx(std::min(1.0, f * x[i])).epsilon(1e-5));
    // Saturation only: the gray pixel (100, 100, 100) is unchanged, others move along (v - gray).
    const std::vector<float> s = run(Pipeline({ColorJitter{0, 0, 0.4}}), img, 2, seed);
    CHECK(s[2] == doctest::Approx(x[2]));
    CHECK(s[4 + 2] == doctest::Approx(x[4 + 2]));
    // Contrast only: values move towards/away from the mean gray level m, with one factor.
    const std::vector<float> c = run(Pipeline({ColorJitter{0, 0.4, 0}}), img, 2, seed);
    double m = 0;
    for (int p = 0; p < 4; ++p) m += 0.2989 * x[size_t(p)] + 0.587 * x[size_t(4 + p)] + 0.114 * x[size_t(8 + p)];
    m /= 4;
    const double fc = (c[0] - m) / (x[0] - m);  // 200/255, never clamped
    for (size_t i = 0; i < 12; ++i)
      CHECK(c[i] == doctest::Approx(std::clamp(fc * x[i] + (1 - fc) * m, 0.0, 1.0)).epsilon(1e-4));
  }
}

TEST_CASE("lighting adds one PCA shift per channel") {
  const ImageU8 img = ramp(2, 2, 3);
  const std::vector<float> x = run(Pipeline(), img, 2);
  const std::vector<float> y = run(Pipeline({Lighting{0.1}}), img, 2, 3);
  for (int c = 0; c < 3; ++c) {
    const float shift = y[size_t(c * 4)] - x[size_t(c * 4)];
    CHECK(std::abs(shift) < 0.2);
    for (int i = 1; i < 4; ++i) CHECK(y[size_t(c * 4 + i)] - x[size_t(c * 4 + i)] == doctest::Approx(shift).epsilon(1e-4));
  }
  // alphastd = 0 is the identity.
  CHECK(run(Pipeline({Lighting{0}}), img, 2) == x);
}

TEST_CASE("random_resized_crop on a JPEG decodes at a reduced scale and matches the full-size path") {
  const ImageU8 src = testing::natural_image(375, 500, 3, 11);
  RawSample jpeg_sample;
  jpeg_sample.name = "photo.jpg";
  jpeg_sample.encoded = testing::encode_jpeg(src, 95, 2 /* TJSAMP_420 */);
  const Pipeline p({RandomResizedCrop{64, 0.5, 1.0}});
  std::vector<float> scaled(3 * 64 * 64);
  Generator g1(5);
  p.run(jpeg_sample, 3, g1, scaled, 64);
  // Same box on the pixels decoded at full size (same seed, so the same draws).
  RawSample full;
  full.name = "photo.jpg";
  full.image = src;
  std::vector<float> reference(3 * 64 * 64);
  Generator g2(5);
  p.run(full, 3, g2, reference, 64);
  double se = 0;
  for (size_t i = 0; i < scaled.size(); ++i) se += (scaled[i] - reference[i]) * (scaled[i] - reference[i]);
  CHECK(10 * std::log10(1.0 / (se / scaled.size())) > 28);  // PSNR in dB
}

TEST_CASE("pipeline validation") {
  CHECK(Pipeline({RandomResizedCrop{224}, HorizontalFlip{}}).output_size() == 224);
  CHECK(Pipeline({HorizontalFlip{}}).output_size() == std::nullopt);
  CHECK_THROWS_WITH_AS(Pipeline({Resize{256}}), doctest::Contains("follow it with center_crop"), Error);
  CHECK_THROWS_WITH_AS(Pipeline({Normalize{{0.5}, {0.5}}, CenterCrop{3}}),
                       doctest::Contains("center_crop(3) must come before"), Error);
  CHECK_THROWS_WITH_AS(Pipeline({RandomResizedCrop{224, 0.0, 1.0}}), doctest::Contains("scale must satisfy"), Error);
  CHECK_THROWS_WITH_AS(Pipeline({Normalize{{0.5, 0.5}, {0.5}}}), doctest::Contains("one value per channel"), Error);
  CHECK_THROWS_WITH_AS(Pipeline({Normalize{{0.5, 0.5, 0.5}, {1, 1, 1}}}).check_channels(1),
                       "normalize: 3 mean/std values for 1-channel images", Error);
  CHECK_THROWS_WITH_AS(Pipeline({Lighting{}}).check_channels(1), doctest::Contains("needs RGB"), Error);
  CHECK(Pipeline({PadRandomCrop{32, 4}, HorizontalFlip{}}).describe() ==
        "pad_random_crop(32, padding=4, reflect), horizontal_flip(p=0.5)");
}
