// Separable bilinear resampling of host images, with PyTorch's / Pillow's coordinate definitions:
//  - align_corners = false: output pixel i of a box [x0, x0 + len) samples the source at
//    x0 + (i + 0.5) * len / out in pixel-edge coordinates (source pixel j covers [j, j + 1)).
//  - align_corners = true (whole image only): output pixel i samples source pixel center
//    i * (in - 1) / (out - 1), so the corner pixels map onto each other (the public MutualNet code
//    downscales batches with F.interpolate(..., align_corners=True)).
//  - plain: two taps (PyTorch's F.interpolate bilinear, antialias=False).
//  - antialias: when shrinking by s > 1 the triangle filter is widened to a radius of s source
//    pixels (Pillow's BILINEAR resize, PyTorch's antialias=True for align_corners = false), so
//    every source pixel contributes instead of aliasing at 2x and beyond.
// Taps never leave the box (rounded out to whole pixels): crop-then-resize semantics.
#pragma once
#include <cstdint>
#include <vector>

#include "data/image.h"

namespace mn::data {

// The weights along one axis: output i = sum_t weights[i * taps + t] * source[first[i] + t].
struct ResampleAxis {
  int in_size = 0, out_size = 0, taps = 0;
  std::vector<int> first;
  std::vector<float> weights;  // (out_size, taps), zero-padded rows
};

ResampleAxis make_resample_axis(int in_size, double box_start, double box_len, int out_size,
                                bool align_corners, bool antialias);

// A box in source pixel-edge coordinates.
struct Box {
  double x = 0, y = 0, width = 0, height = 0;
};

// Crop `box` out of an 8-bit (H, W, C) image and resize it to out_h x out_w (rounded to 8 bits,
// like Pillow). align_corners = false.
ImageU8 resize_u8(const ImageU8& src, const Box& box, int out_h, int out_w, bool antialias);

// Resizes float planes (C, H, W) to (C, out_h, out_w); the axis weights are built once and reused
// for every image of a batch.
class PlaneResizer {
 public:
  PlaneResizer(int in_h, int in_w, int out_h, int out_w, bool align_corners, bool antialias);
  // src: (channels, in_h, in_w), dst: (channels, out_h, out_w), both contiguous.
  void run(const float* src, float* dst, int channels) const;
  int out_h() const { return rows_.out_size; }
  int out_w() const { return cols_.out_size; }
  const ResampleAxis& rows() const { return rows_; }
  const ResampleAxis& cols() const { return cols_; }

 private:
  ResampleAxis rows_, cols_;
};

}  // namespace mn::data
