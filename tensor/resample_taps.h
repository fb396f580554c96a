// Separable resampling of float planes with precomputed taps (data/resample.h's ResampleAxis):
// the data loaders' downscales to every training resolution, on any device, bitwise equal to
// PlaneResizer. See Backend::resample_taps.
#pragma once
#include "tensor/backend.h"

namespace mn::ops {

// x f32 (N, C, H, W); rows_first i64 (Ho), rows_weights f32 (Ho, Tr) with rows_first + Tr <= H;
// cols likewise for W. Returns f32 (N, C, Ho, Wo). Taps on the host are checked.
Tensor resample_taps(const Tensor& x, const Tensor& rows_first, const Tensor& rows_weights, const Tensor& cols_first,
                     const Tensor& cols_weights);

}  // namespace mn::ops
