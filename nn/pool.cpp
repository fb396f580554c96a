// Pooling layers and their shape walks.
#include "nn/pool.h"

#include "autograd/functions.h"

namespace mn::nn {

namespace {

Pool2dArgs make_args(const char* what, int kernel, int stride, int padding) {
  MN_CHECK(kernel > 0 && stride > 0 && padding >= 0 && 2 * padding <= kernel, what,
           ": invalid kernel ", kernel, ", stride ", stride, ", padding ", padding);
  Pool2dArgs a;
  a.kernel_h = a.kernel_w = kernel;
  a.stride_h = a.stride_w = stride;
  a.pad_h = a.pad_w = padding;
  return a;
}

Shape pooled_shape(const std::string& what, const Shape& x, const Pool2dArgs& a) {
  MN_CHECK(x.size() == 4, what, ": expected (N, C, H, W), got ", shape_str(x));
  MN_CHECK(x[2] + 2 * a.pad_h >= a.kernel_h && x[3] + 2 * a.pad_w >= a.kernel_w, what,
           ": input ", shape_str(x), " is smaller than the ", a.kernel_h, "x", a.kernel_w,
           " window");
  return {x[0], x[1], (x[2] + 2 * a.pad_h - a.kernel_h) / a.stride_h + 1,
          (x[3] + 2 * a.pad_w - a.kernel_w) / a.stride_w + 1};
}

}  // namespace

MaxPool2d::MaxPool2d(int kernel, int stride, int padding)
    : args_(make_args("MaxPool2d", kernel, stride, padding)) {}

Variable MaxPool2d::forward(const Variable& x) { return max_pool2d(x, args_); }

namespace {

// The window attributes of ONNX's MaxPool and AveragePool.
std::vector<GraphAttr> window_attrs(const Pool2dArgs& a) {
  return {GraphAttr::integers("kernel_shape", {a.kernel_h, a.kernel_w}),
          GraphAttr::integers("strides", {a.stride_h, a.stride_w}),
          GraphAttr::integers("pads", {a.pad_h, a.pad_w, a.pad_h, a.pad_w})};
}

}  // namespace

Probe MaxPool2d::trace(const Probe& x) {
  return x.record(pooled_shape(label("MaxPool2d"), x.shape, args_), "MaxPool", {}, window_attrs(args_));
}

AvgPool2d::AvgPool2d(int kernel, int stride, int padding)
    : args_(make_args("AvgPool2d", kernel, stride, padding)) {}

Variable AvgPool2d::forward(const Variable& x) { return avg_pool2d(x, args_); }

Probe AvgPool2d::trace(const Probe& x) {
  Shape out = pooled_shape(label("AvgPool2d"), x.shape, args_);
  x.count(shape_numel(x.shape), 0);
  std::vector<GraphAttr> attrs = window_attrs(args_);
  attrs.push_back(GraphAttr::integer("count_include_pad", 1));  // as PyTorch and mn count padding
  return x.record(out, "AveragePool", {}, attrs);
}

Variable AdaptiveAvgPool2d::forward(const Variable& x) {
  return adaptive_avg_pool2d(x, out_h_, out_w_);
}

}  // namespace mn::nn
