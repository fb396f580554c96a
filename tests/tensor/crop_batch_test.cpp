// crop_batch and resample_taps on the CPU against values worked out by hand, and their argument
// checks. The data loader's tests compare them with the CPU loader at scale
// (tests/data/device_loader_test.cpp); tests/cuda/crop_batch_test.cpp compares CUDA with these.
#include <doctest/doctest.h>

#include "tensor/crop_batch.h"
#include "tensor/resample_taps.h"
#include "tests/common/test_util.h"

using namespace mn;

namespace {

// One gray 3x3 image, bytes 1..9 row by row; the table maps byte v to v + 0.5 (byte 0: padding).
Tensor image3() {
  Tensor t = Tensor::empty({1, 3, 3, 1}, DType::u8);
  for (int i = 0; i < 9; ++i) t.data<uint8_t>()[i] = uint8_t(i + 1);
  return t;
}

Tensor table1() {
  std::vector<float> t(256);
  for (int v = 0; v < 256; ++v) t[size_t(v)] = float(v) + 0.5f;
  return Tensor::from_vector(t, {1, 256});
}

std::vector<float> crop(int64_t top, int64_t left, int64_t mirror, int64_t size, PadMode mode) {
  const Tensor params = Tensor::from_vector(std::vector<int64_t>{0, top, left, mirror}, {1, 4});
  return ops::crop_batch(image3(), params, table1(), size, mode).to_vector<float>();
}

}  // namespace

TEST_CASE("crop_batch: windows into zero and reflect padding, mirrored, through the table") {
  // The window from (-1, -1): a zero row and column, then the image's top-left 2x2.
  CHECK(crop(-1, -1, 0, 3, PadMode::zero) == std::vector<float>{0.5f, 0.5f, 0.5f, 0.5f, 1.5f, 2.5f, 0.5f, 4.5f, 5.5f});
  // Reflect excludes the edge: row -1 is row 1, column -1 is column 1.
  CHECK(crop(-1, -1, 0, 3, PadMode::reflect) == std::vector<float>{5.5f, 4.5f, 5.5f, 2.5f, 1.5f, 2.5f, 5.5f, 4.5f, 5.5f});
  // Mirrored: each row of the window read right to left.
  CHECK(crop(1, 1, 1, 2, PadMode::zero) == std::vector<float>{6.5f, 5.5f, 9.5f, 8.5f});
  CHECK(crop(2, 2, 1, 2, PadMode::reflect) == std::vector<float>{8.5f, 9.5f, 5.5f, 6.5f});
}

TEST_CASE("crop_batch: RGB rows pick their image and keep channels apart") {
  Tensor images = Tensor::empty({2, 1, 1, 3}, DType::u8);
  const uint8_t bytes[6] = {1, 2, 3, 4, 5, 6};
  std::copy(bytes, bytes + 6, images.data<uint8_t>());
  std::vector<float> t(3 * 256);
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) t[size_t(c * 256 + v)] = float(100 * c + v);
  const Tensor params = Tensor::from_vector(std::vector<int64_t>{1, 0, 0, 0, 0, 0, 0, 1}, {2, 4});
  const Tensor out = ops::crop_batch(images, params, Tensor::from_vector(t, {3, 256}), 1, PadMode::zero);
  CHECK(out.shape() == Shape{2, 3, 1, 1});
  CHECK(out.to_vector<float>() == std::vector<float>{4, 105, 206, 1, 102, 203});
}

TEST_CASE("crop_batch: windows outside the image and its padding are refused") {
  CHECK_THROWS_WITH_AS(crop(-3, 0, 0, 2, PadMode::reflect),
                       "crop_batch: row 0 takes a 2x2 window at (-3, 0) of image 0, outside 1 images of 3x3 and their "
                       "padding",
                       Error);
  CHECK(crop(2, 0, 0, 3, PadMode::reflect).size() == 9);       // rows 3 and 4 reflect to 1 and 0
  CHECK_THROWS_AS(crop(3, 0, 0, 3, PadMode::reflect), Error);  // row 5 reflects past the top
  CHECK(crop(5, 0, 0, 1, PadMode::zero) == std::vector<float>{0.5f});  // zero padding reaches any distance
  const Tensor params = Tensor::from_vector(std::vector<int64_t>{1, 0, 0, 0}, {1, 4});
  CHECK_THROWS_AS(ops::crop_batch(image3(), params, table1(), 1, PadMode::zero), Error);  // image 1 of 1
  CHECK_THROWS_WITH_AS(ops::crop_batch(image3(), params, Tensor::zeros({3, 256}), 1, PadMode::zero),
                       "crop_batch: table has shape (3, 256), expected (1, 256)", Error);
}

TEST_CASE("resample_taps: vertical sums first, two column taps as w0 * a + w1 * b") {
  // A 3x3 plane; rows: output 0 = row 0, output 1 = 0.25 row 1 + 0.75 row 2; columns: output 0 =
  // 0.5 col 0 + 0.5 col 1, output 1 = col 2 (its second weight 0).
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  const Tensor rf = Tensor::from_vector(std::vector<int64_t>{0, 1}, {2});
  const Tensor rw = Tensor::from_vector(std::vector<float>{1, 0, 0.25f, 0.75f}, {2, 2});
  const Tensor cf = Tensor::from_vector(std::vector<int64_t>{0, 1}, {2});
  const Tensor cw = Tensor::from_vector(std::vector<float>{0.5f, 0.5f, 0, 1}, {2, 2});
  const Tensor y = ops::resample_taps(x, rf, rw, cf, cw);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  // Row 1 of the output: 0.25 * (4 5 6) + 0.75 * (7 8 9) = (6.25 7.25 8.25).
  CHECK(y.to_vector<float>() == std::vector<float>{1.5f, 3, 6.75f, 8.25f});
  const Tensor far = Tensor::from_vector(std::vector<int64_t>{0, 2}, {2});
  CHECK_THROWS_WITH_AS(ops::resample_taps(x, far, rw, cf, cw),
                       "resample_taps: row output 1 reads 2 taps from 2, outside [0, 3)", Error);
}
