// Separable bilinear resampling: per-axis weight tables, then a vertical and a horizontal pass.
#include "data/resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mn::data {

ResampleAxis make_resample_axis(int in_size, double box_start, double box_len, int out_size,
                                bool align_corners, bool antialias) {
  MN_CHECK(in_size > 0 && out_size > 0, "resample: sizes must be positive, got ", in_size, " -> ", out_size);
  MN_CHECK(box_len > 0 && box_start >= -1e-6 && box_start + box_len <= in_size + 1e-6,
           "resample: box [", box_start, ", ", box_start + box_len, ") outside the image of size ", in_size);
  MN_CHECK(!align_corners || (box_start == 0 && box_len == in_size),
           "resample: align_corners applies to whole images, not crops");
  // Taps stay inside the box rounded out to whole pixels.
  const int lo = std::max(0, int(std::floor(box_start + 1e-6)));
  const int hi = std::min(in_size, std::max(lo + 1, int(std::ceil(box_start + box_len - 1e-6))));

  // scale: source pixels per output pixel; center(i): where output i samples, edge coordinates.
  double scale;
  if (align_corners)
    scale = out_size > 1 ? double(in_size - 1) / (out_size - 1) : 0.0;
  else
    scale = box_len / out_size;
  auto center = [&](int i) { return align_corners ? i * scale + 0.5 : box_start + (i + 0.5) * scale; };

  ResampleAxis axis;
  axis.in_size = in_size;
  axis.out_size = out_size;
  std::vector<std::vector<std::pair<int, double>>> taps(out_size);
  if (antialias && scale > 1.0) {
    // Triangle filter of radius `scale` source pixels, normalised over the taps inside the box.
    for (int i = 0; i < out_size; ++i) {
      const double c = center(i);
      const int j0 = std::max(lo, int(std::floor(c - scale - 0.5)));
      const int j1 = std::min(hi - 1, int(std::ceil(c + scale - 0.5)));
      double sum = 0;
      for (int j = j0; j <= j1; ++j) {
        const double w = 1.0 - std::abs(j + 0.5 - c) / scale;
        if (w <= 0) continue;
        taps[i].push_back({j, w});
        sum += w;
      }
      for (auto& t : taps[i]) t.second /= sum;
    }
  } else {
    // Two taps around the sample point, clamped to the box (PyTorch's bilinear).
    for (int i = 0; i < out_size; ++i) {
      const double src = std::clamp(align_corners ? i * scale : center(i) - 0.5, double(lo), double(hi - 1));
      const int j0 = int(src);
      const int j1 = std::min(j0 + 1, hi - 1);
      const double l = src - j0;
      taps[i].push_back({j0, 1.0 - l});
      if (j1 != j0 && l > 0) taps[i].push_back({j1, l});
    }
  }

  for (const auto& t : taps) axis.taps = std::max(axis.taps, int(t.size()));
  axis.first.resize(out_size);
  axis.weights.assign(size_t(out_size) * axis.taps, 0.0f);
  for (int i = 0; i < out_size; ++i) {
    // Rows are padded with zero weights; keep every tap index inside [0, in_size).
    axis.first[i] = std::min(taps[i].front().first, in_size - axis.taps);
    axis.first[i] = std::max(axis.first[i], 0);
    for (const auto& [j, w] : taps[i]) axis.weights[size_t(i) * axis.taps + (j - axis.first[i])] = float(w);
  }
  return axis;
}

namespace {

// Both resizers run vertical-first, one output row at a time: the vertical pass reads whole
// source rows (contiguous, vectorized, including the uint8 -> float conversion) into a row
// buffer that stays in L1; the horizontal pass then gathers taps from that buffer.

// Vertical pass for output row y over `len` values starting at column offset `x0` of each row:
// acc[k] = sum_t w_t * row(first[y] + t)[x0 + k].
template <class T>
void vertical(const T* src, size_t row_stride, size_t x0, size_t len, const ResampleAxis& rows, int y, float* acc) {
  const float* w = rows.weights.data() + size_t(y) * rows.taps;
  const T* in = src + size_t(rows.first[y]) * row_stride + x0;
  for (size_t k = 0; k < len; ++k) acc[k] = w[0] * float(in[k]);
  for (int t = 1; t < rows.taps; ++t) {
    // Rows clamped at the bottom edge start with zero weights: tap t is still row first + t.
    in += row_stride;
    if (w[t] == 0.0f) continue;
    const float wt = w[t];
    for (size_t k = 0; k < len; ++k) acc[k] += wt * float(in[k]);
  }
}

// Horizontal pass of one row buffer of interleaved 3-channel pixels (buf[-] starts at column
// `col0`): one 4-lane multiply-add per tap, the 4th lane is the next pixel's and is dropped.
// `buf` needs one float of slack past its end.
typedef float v4f __attribute__((vector_size(16)));
template <int Taps>  // Taps > 0: a compile-time count (unrolled); 0: cols.taps
void horizontal_rgb_taps(const float* buf, int col0, const ResampleAxis& cols, float* out) {
  const int taps = Taps > 0 ? Taps : cols.taps;
  for (int x = 0; x < cols.out_size; ++x) {
    const float* w = cols.weights.data() + size_t(x) * taps;
    const float* p = buf + size_t(cols.first[x] - col0) * 3;
    v4f acc = {0, 0, 0, 0};
    for (int t = 0; t < taps; ++t) {
      v4f v;
      std::memcpy(&v, p + 3 * t, sizeof v);
      acc += w[t] * v;
    }
    out[3 * x] = acc[0];
    out[3 * x + 1] = acc[1];
    out[3 * x + 2] = acc[2];
  }
}

void horizontal_rgb(const float* buf, int col0, const ResampleAxis& cols, float* out) {
  switch (cols.taps) {
    case 2: return horizontal_rgb_taps<2>(buf, col0, cols, out);
    case 3: return horizontal_rgb_taps<3>(buf, col0, cols, out);
    case 4: return horizontal_rgb_taps<4>(buf, col0, cols, out);
    case 5: return horizontal_rgb_taps<5>(buf, col0, cols, out);
    case 6: return horizontal_rgb_taps<6>(buf, col0, cols, out);
    default: return horizontal_rgb_taps<0>(buf, col0, cols, out);
  }
}

// Horizontal pass of one plane row (buf starts at column col0).
void horizontal_plane(const float* buf, int col0, const ResampleAxis& cols, float* out) {
  if (cols.taps == 2) {  // plain bilinear: no inner loop
    for (int x = 0; x < cols.out_size; ++x) {
      const float* p = buf + (cols.first[x] - col0);
      out[x] = cols.weights[2 * size_t(x)] * p[0] + cols.weights[2 * size_t(x) + 1] * p[1];
    }
    return;
  }
  const int taps = cols.taps;
  for (int x = 0; x < cols.out_size; ++x) {
    const float* w = cols.weights.data() + size_t(x) * taps;
    const float* p = buf + (cols.first[x] - col0);
    float acc = 0;
    for (int t = 0; t < taps; ++t) acc += w[t] * p[t];
    out[x] = acc;
  }
}

}  // namespace

namespace {

void resize_u8_rows(const ImageU8& src, const ResampleAxis& rows, const ResampleAxis& cols, ImageU8& dst) {
  const int c = src.channels;
  // Only the source columns some output column touches go through the vertical pass.
  const int col0 = cols.first.front(), col1 = cols.first.back() + cols.taps;
  const size_t len = size_t(col1 - col0) * c;
  thread_local std::vector<float> buf_storage, row_storage;
  buf_storage.resize(len + 1);
  row_storage.resize(size_t(cols.out_size) * c);
  // Plain pointers: writes through uint8_t* may alias anything, which would make the compiler
  // reload the thread_local vectors inside every loop.
  float* const buf = buf_storage.data();
  float* const row = row_storage.data();
  const size_t row_len = row_storage.size();
  for (int y = 0; y < rows.out_size; ++y) {
    vertical(src.pixels.data(), size_t(src.width) * c, size_t(col0) * c, len, rows, y, buf);
    if (c == 3)
      horizontal_rgb(buf, col0, cols, row);
    else
      horizontal_plane(buf, col0, cols, row);
    uint8_t* out = dst.row(y);
    // To the nearest 8-bit value (Pillow rounds halves up; ties are rare and off by one at most).
    for (size_t k = 0; k < row_len; ++k) out[k] = uint8_t(std::nearbyint(std::clamp(row[k], 0.0f, 255.0f)));
  }
}

// Horizontal pass of four plane rows at once: the tap positions and weights, the same for every
// row, are loaded once per output column instead of once per row. Two taps (plain bilinear)
// get their own loop without the inner one.
void horizontal_plane4(const float* const in[4], const ResampleAxis& cols, float* const out[4]) {
  const int taps = cols.taps;
  if (taps == 2) {
    for (int x = 0; x < cols.out_size; ++x) {
      const float w0 = cols.weights[2 * size_t(x)], w1 = cols.weights[2 * size_t(x) + 1];
      const int f = cols.first[x];
      for (int r = 0; r < 4; ++r) out[r][x] = w0 * in[r][f] + w1 * in[r][f + 1];
    }
    return;
  }
  for (int x = 0; x < cols.out_size; ++x) {
    const float* w = cols.weights.data() + size_t(x) * taps;
    const int f = cols.first[x];
    float acc[4] = {};
    for (int t = 0; t < taps; ++t)
      for (int r = 0; r < 4; ++r) acc[r] += w[t] * in[r][f + t];
    for (int r = 0; r < 4; ++r) out[r][x] = acc[r];
  }
}

void resize_planes(const float* src, float* dst, int channels, const ResampleAxis& rows,
                   const ResampleAxis& cols) {
  const size_t in_w = size_t(cols.in_size), in_plane = size_t(rows.in_size) * in_w;
  const size_t out_w = size_t(cols.out_size), out_plane = size_t(rows.out_size) * out_w;
  thread_local std::vector<float> buf_storage;
  buf_storage.resize(4 * in_w);
  float* const buf = buf_storage.data();
  const float* const bufs[4] = {buf, buf + in_w, buf + 2 * in_w, buf + 3 * in_w};
  for (int c = 0; c < channels; ++c) {
    const float* plane = src + c * in_plane;
    float* out = dst + c * out_plane;
    int y = 0;
    for (; y + 4 <= rows.out_size; y += 4) {
      for (int r = 0; r < 4; ++r) vertical(plane, in_w, 0, in_w, rows, y + r, buf + r * in_w);
      float* const outs[4] = {out + y * out_w, out + (y + 1) * out_w, out + (y + 2) * out_w, out + (y + 3) * out_w};
      horizontal_plane4(bufs, cols, outs);
    }
    for (; y < rows.out_size; ++y) {
      vertical(plane, in_w, 0, in_w, rows, y, buf);
      horizontal_plane(buf, 0, cols, out + y * out_w);
    }
  }
}

}  // namespace

ImageU8 resize_u8(const ImageU8& src, const Box& box, int out_h, int out_w, bool antialias) {
  MN_CHECK(src.channels == 1 || src.channels == 3, "resize: images have 1 or 3 channels, got ", src.channels);
  const ResampleAxis rows = make_resample_axis(src.height, box.y, box.height, out_h, false, antialias);
  const ResampleAxis cols = make_resample_axis(src.width, box.x, box.width, out_w, false, antialias);
  ImageU8 dst(out_h, out_w, src.channels);
  resize_u8_rows(src, rows, cols, dst);
  return dst;
}

PlaneResizer::PlaneResizer(int in_h, int in_w, int out_h, int out_w, bool align_corners, bool antialias)
    : rows_(make_resample_axis(in_h, 0, in_h, out_h, align_corners, antialias)),
      cols_(make_resample_axis(in_w, 0, in_w, out_w, align_corners, antialias)) {}

void PlaneResizer::run(const float* src, float* dst, int channels) const {
  resize_planes(src, dst, channels, rows_, cols_);
}

}  // namespace mn::data
