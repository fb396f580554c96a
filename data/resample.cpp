// Separable bilinear resampling: per-axis weight tables, then a horizontal pass into a float
// buffer and a vertical pass out of it (the vertical pass runs over contiguous rows and vectorizes).
#include "data/resample.h"

#include <algorithm>
#include <cmath>

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

// Horizontal pass over rows [row0, row0 + rows) of an interleaved (H, W, C) source into a float
// (rows, out_w, C) buffer.
template <int C, class T>
void horizontal(const T* src, int src_w, int row0, int rows, const ResampleAxis& cols, float* dst) {
  const int taps = cols.taps;
  for (int y = 0; y < rows; ++y) {
    const T* in = src + size_t(row0 + y) * src_w * C;
    float* out = dst + size_t(y) * cols.out_size * C;
    for (int x = 0; x < cols.out_size; ++x) {
      const float* w = cols.weights.data() + size_t(x) * taps;
      const T* p = in + size_t(cols.first[x]) * C;
      float acc[C] = {};
      for (int t = 0; t < taps; ++t)
        for (int c = 0; c < C; ++c) acc[c] += w[t] * float(p[t * C + c]);
      for (int c = 0; c < C; ++c) out[x * C + c] = acc[c];
    }
  }
}

// Vertical pass: out row y = sum over taps of whole buffer rows (row_len floats each).
void vertical(const float* buf, int buf_row0, size_t row_len, const ResampleAxis& rows, float* acc,
              int y) {
  const float* w = rows.weights.data() + size_t(y) * rows.taps;
  std::fill(acc, acc + row_len, 0.0f);
  for (int t = 0; t < rows.taps; ++t) {
    if (w[t] == 0.0f) continue;
    const float* in = buf + size_t(rows.first[y] + t - buf_row0) * row_len;
    for (size_t k = 0; k < row_len; ++k) acc[k] += w[t] * in[k];
  }
}

template <int C>
void resize_u8_impl(const ImageU8& src, const ResampleAxis& rows, const ResampleAxis& cols, ImageU8& dst) {
  // Only the source rows some output row touches go through the horizontal pass.
  const int row0 = rows.first.front();
  const int row1 = rows.first.back() + rows.taps;
  const size_t row_len = size_t(cols.out_size) * C;
  thread_local std::vector<float> buf, acc;
  buf.resize(size_t(row1 - row0) * row_len);
  acc.resize(row_len);
  horizontal<C>(src.pixels.data(), src.width, row0, row1 - row0, cols, buf.data());
  for (int y = 0; y < rows.out_size; ++y) {
    vertical(buf.data(), row0, row_len, rows, acc.data(), y);
    uint8_t* out = dst.row(y);
    for (size_t k = 0; k < row_len; ++k) out[k] = uint8_t(std::clamp(std::nearbyint(acc[k]), 0.0f, 255.0f));
  }
}

}  // namespace

ImageU8 resize_u8(const ImageU8& src, const Box& box, int out_h, int out_w, bool antialias) {
  MN_CHECK(src.channels == 1 || src.channels == 3, "resize: images have 1 or 3 channels, got ", src.channels);
  const ResampleAxis rows = make_resample_axis(src.height, box.y, box.height, out_h, false, antialias);
  const ResampleAxis cols = make_resample_axis(src.width, box.x, box.width, out_w, false, antialias);
  ImageU8 dst(out_h, out_w, src.channels);
  if (src.channels == 3)
    resize_u8_impl<3>(src, rows, cols, dst);
  else
    resize_u8_impl<1>(src, rows, cols, dst);
  return dst;
}

PlaneResizer::PlaneResizer(int in_h, int in_w, int out_h, int out_w, bool align_corners, bool antialias)
    : rows_(make_resample_axis(in_h, 0, in_h, out_h, align_corners, antialias)),
      cols_(make_resample_axis(in_w, 0, in_w, out_w, align_corners, antialias)) {}

void PlaneResizer::run(const float* src, float* dst, int channels) const {
  const int row0 = rows_.first.front();
  const int row1 = rows_.first.back() + rows_.taps;
  const size_t in_plane = size_t(rows_.in_size) * cols_.in_size;
  const size_t out_plane = size_t(rows_.out_size) * cols_.out_size;
  thread_local std::vector<float> buf;
  buf.resize(size_t(row1 - row0) * cols_.out_size);
  for (int c = 0; c < channels; ++c) {
    horizontal<1>(src + c * in_plane, cols_.in_size, row0, row1 - row0, cols_, buf.data());
    for (int y = 0; y < rows_.out_size; ++y)
      vertical(buf.data(), row0, cols_.out_size, rows_, dst + c * out_plane + size_t(y) * cols_.out_size, y);
  }
}

}  // namespace mn::data
