// Augmented crops of a device-resident uint8 dataset into a float batch, in one pass: gather the
// image, pad (zero or reflect), crop, mirror and map each byte through a per-channel table (ToTensor
// and Normalize folded in). data/device_loader.h builds its batches with it; see Backend::crop_batch.
#pragma once
#include "tensor/backend.h"

namespace mn::ops {

// images u8 (N, H, W, C); params i64 (B, 4): image index, top, left, mirror; table f32 (C, 256).
// Returns f32 (B, C, size, size). Params on the host are checked against the images and the
// padding they may reach (reflect: less than the image side).
Tensor crop_batch(const Tensor& images, const Tensor& params, const Tensor& table, int64_t size, PadMode mode);

}  // namespace mn::ops
