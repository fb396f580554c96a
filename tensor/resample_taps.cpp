// resample_taps dispatch.
#include "tensor/resample_taps.h"

#include "tensor/op_checks.h"

namespace mn::ops {
namespace {

void check_axis(const Tensor& first, const Tensor& weights, int64_t in, const Tensor& x, const char* axis) {
  MN_CHECK(first.defined() && first.dtype() == DType::i64 && first.dim() == 1, "resample_taps: ", axis,
           " first taps must be int64 (out)");
  MN_CHECK(weights.defined() && weights.dtype() == DType::f32 && weights.dim() == 2 &&
               weights.size(0) == first.size(0) && weights.size(1) >= 1,
           "resample_taps: ", axis, " weights must be float32 (", first.size(0), ", taps)");
  MN_CHECK(first.device() == x.device() && weights.device() == x.device(), "resample_taps: the ", axis,
           " taps must be on the input's device, ", x.device().str());
  if (!first.device().is_cpu()) return;
  const Tensor f = first.contiguous();
  for (int64_t i = 0; i < f.numel(); ++i)
    MN_CHECK(f.data<int64_t>()[i] >= 0 && f.data<int64_t>()[i] + weights.size(1) <= in, "resample_taps: ", axis,
             " output ", i, " reads ", weights.size(1), " taps from ", f.data<int64_t>()[i], ", outside [0, ", in, ")");
}

}  // namespace

Tensor resample_taps(const Tensor& x, const Tensor& rows_first, const Tensor& rows_weights, const Tensor& cols_first,
                     const Tensor& cols_weights) {
  MN_CHECK(x.defined() && x.dtype() == DType::f32, "resample_taps: input must be float32");
  check_4d("resample_taps", x, "input");
  check_axis(rows_first, rows_weights, x.size(2), x, "row");
  check_axis(cols_first, cols_weights, x.size(3), x, "column");
  Tensor y = Tensor::empty({x.size(0), x.size(1), rows_first.size(0), cols_first.size(0)}, DType::f32, x.device());
  if (y.numel() > 0)
    backend(x.device()).resample_taps(x.contiguous(), rows_first.contiguous(), rows_weights.contiguous(),
                                      cols_first.contiguous(), cols_weights.contiguous(), y);
  return y;
}

}  // namespace mn::ops
