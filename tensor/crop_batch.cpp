// crop_batch dispatch.
#include "tensor/crop_batch.h"

#include "tensor/op_checks.h"

namespace mn::ops {

Tensor crop_batch(const Tensor& images, const Tensor& params, const Tensor& table, int64_t size, PadMode mode) {
  MN_CHECK(images.defined() && images.dtype() == DType::u8 && images.dim() == 4,
           "crop_batch: images must be uint8 (N, H, W, C)");
  MN_CHECK(params.defined() && params.dtype() == DType::i64 && params.dim() == 2 && params.size(1) == 4,
           "crop_batch: params must be int64 (B, 4) rows of image, top, left, mirror");
  const int64_t n = images.size(0), h = images.size(1), w = images.size(2), c = images.size(3);
  check_shape("crop_batch", table, "table", {c, 256});
  MN_CHECK(table.dtype() == DType::f32, "crop_batch: table must be float32, got ", dtype_name(table.dtype()));
  MN_CHECK(params.device() == images.device() && table.device() == images.device(),
           "crop_batch: images, params and table must be on one device");
  MN_CHECK(size > 0, "crop_batch: size must be positive, got ", size);
  if (params.device().is_cpu()) {
    const Tensor p = params.contiguous();
    const int64_t* q = p.data<int64_t>();
    // Reflection reaches at most side - 1 pixels out; zero padding any distance.
    const int64_t reach_h = mode == PadMode::reflect ? h - 1 : INT64_MAX / 4;
    const int64_t reach_w = mode == PadMode::reflect ? w - 1 : INT64_MAX / 4;
    for (int64_t b = 0; b < params.size(0); ++b, q += 4)
      MN_CHECK(q[0] >= 0 && q[0] < n && q[1] >= -reach_h && q[1] + size - 1 < h + reach_h && q[2] >= -reach_w &&
                   q[2] + size - 1 < w + reach_w,
               "crop_batch: row ", b, " takes a ", size, "x", size, " window at (", q[1], ", ", q[2], ") of image ",
               q[0], ", outside ", n, " images of ", h, "x", w, " and their padding");
  }
  Tensor out = Tensor::empty({params.size(0), c, size, size}, DType::f32, images.device());
  if (out.numel() > 0)
    backend(images.device()).crop_batch(images.contiguous(), params.contiguous(), table.contiguous(), mode, out);
  return out;
}

}  // namespace mn::ops
