// Bilinear resampling against values worked out by hand and, where noted, values PyTorch's
// F.interpolate printed for the same input (torch 1.13+, float32).
#include <doctest/doctest.h>

#include <numeric>

#include "data/resample.h"
#include "tests/common/test_util.h"

using namespace mn::data;

namespace {
// The 3x8 plane used throughout.
const std::vector<float> kPlane = {1, 2, 4, 8, 16, 32, 64, 128, 3, 1, 4, 1, 5, 9, 2, 6, 0, 10, 20, 30, 40, 50, 60, 70};

std::vector<float> resize(int out_h, int out_w, bool align_corners, bool antialias) {
  PlaneResizer r(3, 8, out_h, out_w, align_corners, antialias);
  std::vector<float> out(size_t(out_h) * out_w);
  r.run(kPlane.data(), out.data(), 1);
  return out;
}

// Every value within tol * (1 + |want|) of the expected one.
void check_plane(const std::vector<float>& got, const std::vector<float>& want, double tol = 1e-4) {
  auto flat = [](const std::vector<float>& v) { return mn::Tensor::from_vector(v, {int64_t(v.size())}); };
  mn::test::check_close(flat(got), flat(want), tol, tol, "resized plane");
}
}  // namespace

TEST_CASE("align_corners = true maps corners onto corners (hand-computed)") {
  // Rows 3 -> 2 sample rows 0 and 2; columns 8 -> 3 sample 0, 3.5 and 7: (8 + 16) / 2 = 12.
  check_plane(resize(2, 3, true, false), {1, 12, 128, 0, 35, 70});
  // One output pixel samples the first source pixel, like PyTorch.
  check_plane(resize(1, 1, true, false), {1});
  // Same size is the identity.
  check_plane(resize(3, 8, true, false), kPlane);
}

TEST_CASE("align_corners = false uses half-pixel centers (PyTorch values)") {
  // Rows sample 0.25 and 1.75; columns 0.8333, 3.5, 6.1667.
  // Row 0, col 0: 0.75 * (1 + 0.8333 * 1) + 0.25 * (3 * 0.1667 + 1 * 0.8333) = 1.7083.
  check_plane(resize(2, 3, false, false), {1.7083333f, 9.750001f, 56.66668f, 6.5833335f, 27.000002f, 46.916672f});
  check_plane(resize(3, 8, false, false), kPlane);
}

TEST_CASE("antialiased downscale widens the triangle filter (PyTorch antialias=True / Pillow values)") {
  check_plane(resize(2, 3, false, true), {2.519737f, 10.910714f, 46.368427f, 7.7664475f, 23.410715f, 38.736843f});
  // Upscaling is plain bilinear either way.
  check_plane(resize(5, 11, false, true), resize(5, 11, false, false), 1e-6);
}

TEST_CASE("resize_u8 crops a box then resizes, never reading outside the box") {
  ImageU8 img(4, 6, 1);
  std::iota(img.pixels.begin(), img.pixels.end(), uint8_t(0));  // value = 6 * y + x
  // Box of columns 2..3, rows 1..2 at the same size: exactly those pixels.
  ImageU8 same = resize_u8(img, Box{2, 1, 2, 2}, 2, 2, true);
  CHECK(same.pixels == Bytes{8, 9, 14, 15});
  // 2x2 box to 1x1: mean of the four (antialiased) = 11.5 -> 12 (round half to even).
  CHECK(resize_u8(img, Box{2, 1, 2, 2}, 1, 1, true).pixels == Bytes{12});
  // Plain bilinear at the box center agrees here.
  CHECK(resize_u8(img, Box{2, 1, 2, 2}, 1, 1, false).pixels == Bytes{12});
  // Upscale a box at the image's right edge: pixels outside it (columns < 4) never contribute.
  ImageU8 edge = resize_u8(img, Box{4, 0, 2, 1}, 1, 4, true);
  // Columns sample 4 + (i + 0.5) / 2 - 0.5 = 3.75, 4.25, 4.75, 5.25 clamped to [4, 5].
  CHECK(edge.pixels == Bytes{4, 4, 5, 5});

  // RGB channels stay separate.
  ImageU8 rgb(2, 2, 3);
  for (int p = 0; p < 4; ++p) rgb.pixels[3 * p] = 200, rgb.pixels[3 * p + 1] = uint8_t(p * 10), rgb.pixels[3 * p + 2] = 7;
  const ImageU8 one = resize_u8(rgb, Box{0, 0, 2, 2}, 1, 1, true);
  CHECK(one.pixels == Bytes{200, 15, 7});
}

TEST_CASE("resample axes reject boxes outside the image") {
  CHECK_THROWS_WITH_AS(make_resample_axis(10, 5, 6, 3, false, false),
                       "resample: box [5, 11) outside the image of size 10", mn::Error);
  CHECK_THROWS_AS(make_resample_axis(10, 1, 5, 3, true, false), mn::Error);
}

TEST_CASE("antialiased rows clamped at the bottom edge read their own rows (leading zero weights)") {
  // 32 -> 20 with align_corners: the last output rows have fewer taps than the axis, so their
  // first tap is moved up and its weights start with zeros; each weight still belongs to row
  // first + t. Reference: the same taps summed in double.
  std::vector<float> src(32 * 32);
  for (size_t i = 0; i < src.size(); ++i) src[i] = float((i * 37) % 101);
  const PlaneResizer r(32, 32, 20, 20, true, true);
  const ResampleAxis& rows = r.rows();
  const ResampleAxis& cols = r.cols();
  bool leading_zeros = false;
  for (int y = 0; y < 20; ++y) leading_zeros = leading_zeros || (rows.weights[size_t(y) * rows.taps + 1] == 0 &&
                                                                   rows.weights[size_t(y) * rows.taps + 2] != 0);
  REQUIRE(leading_zeros);  // the case this test is about
  std::vector<float> got(20 * 20), want(20 * 20);
  r.run(src.data(), got.data(), 1);
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 20; ++x) {
      double acc = 0;
      for (int t = 0; t < rows.taps; ++t)
        for (int u = 0; u < cols.taps; ++u)
          acc += double(rows.weights[size_t(y) * rows.taps + t]) * cols.weights[size_t(x) * cols.taps + u] *
                 src[size_t(rows.first[y] + t) * 32 + size_t(cols.first[x] + u)];
      want[size_t(y) * 20 + x] = float(acc);
    }
  check_plane(got, want, 1e-5);
}
