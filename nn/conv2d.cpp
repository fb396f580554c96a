// Conv2d: slicing the full weight to the active widths, and the matching shape walk.
#include "nn/conv2d.h"

#include "autograd/functions.h"

namespace mn::nn {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int kernel,
               const Conv2dOptions& options, std::shared_ptr<const Slimming> slimming)
    : out_channels_(out_channels),
      kernel_(kernel),
      options_(options),
      slimming_(std::move(slimming)) {
  const Conv2dOptions& o = options_;
  MN_CHECK(in_channels > 0 && out_channels > 0 && kernel > 0 && o.stride > 0 && o.padding >= 0 &&
               o.dilation > 0 && o.groups > 0,
           "Conv2d: invalid sizes (in ", in_channels, ", out ", out_channels, ", kernel ", kernel,
           ", stride ", o.stride, ", padding ", o.padding, ", dilation ", o.dilation, ", groups ",
           o.groups, ")");
  MN_CHECK(!o.depthwise || (in_channels == out_channels && o.groups == 1 &&
                            o.in_ratio == o.out_ratio && o.slim_in == o.slim_out),
           "Conv2d: a depthwise conv maps its channels to themselves (in ", in_channels, ", out ",
           out_channels, ")");
  MN_CHECK(o.groups == 1 || (in_channels % o.groups == 0 && out_channels % o.groups == 0),
           "Conv2d: ", in_channels, " -> ", out_channels, " channels do not split into ",
           o.groups, " groups");
  auto largest = [this](int64_t c, bool slim, double ratio) {
    return slim && slimming_ ? slimming_->largest(c, ratio) : c;
  };
  int64_t in = largest(in_channels, o.slim_in && o.groups == 1, o.in_ratio);
  int64_t out = largest(out_channels, o.slim_out && o.groups == 1, o.out_ratio);
  int64_t in_per_group = o.depthwise ? 1 : in / o.groups;
  weight = Variable(Tensor::zeros({out, in_per_group, kernel, kernel}), true);
  register_parameter("weight", weight);
  if (o.bias) {
    bias = Variable(Tensor::zeros({out}), true);
    register_parameter("bias", bias);
  }
}

int64_t Conv2d::active_out(int64_t in) const {
  const int64_t full_out = weight.size(0), full_in = weight.size(1) * options_.groups;
  if (options_.depthwise) {
    MN_CHECK(in <= full_out, label("Conv2d"), ": depthwise over ", in,
             " channels, the weight has ", full_out);
    return in;
  }
  if (options_.groups > 1 || !options_.slim_in)
    MN_CHECK(in == full_in, label("Conv2d"), ": input has ", in, " channels, expected ",
             full_in);
  else
    MN_CHECK(in <= full_in, label("Conv2d"), ": input has ", in, " channels, the weight has ",
             full_in);
  if (options_.groups > 1 || !options_.slim_out || !slimming_) return full_out;
  int64_t out = slimming_->active(out_channels_, options_.out_ratio);
  MN_CHECK(out >= 1 && out <= full_out, label("Conv2d"), ": the current width asks for ", out,
           " output channels, the weight has ", full_out);
  return out;
}

Conv2dArgs Conv2d::args_for(int64_t in) const {
  Conv2dArgs a;
  a.stride_h = a.stride_w = options_.stride;
  a.pad_h = a.pad_w = options_.padding;
  a.dil_h = a.dil_w = options_.dilation;
  a.groups = static_cast<int>(groups_for(in));
  return a;
}

Variable Conv2d::forward(const Variable& x) {
  MN_CHECK(x.dim() == 4, label("Conv2d"), ": expected (N, C, H, W), got ", shape_str(x.shape()));
  const int64_t in = x.size(1), out = active_out(in);
  const int64_t in_per_group = options_.depthwise ? 1 : in / options_.groups;
  Variable w = weight;
  if (out < w.size(0)) w = w.slice(0, 0, out);
  if (in_per_group < w.size(1)) w = w.slice(1, 0, in_per_group);
  std::optional<Variable> b;
  if (bias.defined()) b = cast(out < bias.size(0) ? bias.slice(0, 0, out) : bias, x.dtype());
  // Mixed precision: the float32 master slice feeds the op as a copy in the activations' dtype.
  // A backend convolving channels-last wants KRSC filters: the copy is made so (even in float32),
  // instead of the dispatcher copying the slice again for every pass; NCHW reads the slice in place.
  const bool krsc = backend(x.device()).memory_format() == MemoryFormat::channels_last;
  return conv2d(x, cast(w, x.dtype(), krsc ? std::optional(MemoryFormat::channels_last) : std::nullopt),
                b, args_for(in));
}

Probe Conv2d::trace(const Probe& x) {
  MN_CHECK(x.dim() == 4, label("Conv2d"), ": expected (N, C, H, W), got ", shape_str(x.shape));
  const int64_t in = x.size(1), out = active_out(in), groups = groups_for(in);
  const int64_t span = int64_t(options_.dilation) * (kernel_ - 1) + 1;
  MN_CHECK(x.shape[2] + 2 * options_.padding >= span && x.shape[3] + 2 * options_.padding >= span,
           label("Conv2d"), ": input ", shape_str(x.shape), " is smaller than the ", kernel_,
           "x", kernel_, " kernel");
  const int64_t ho = (x.shape[2] + 2 * options_.padding - span) / options_.stride + 1;
  const int64_t wo = (x.shape[3] + 2 * options_.padding - span) / options_.stride + 1;
  const int64_t k2 = int64_t(kernel_) * kernel_;
  x.count(x.shape[0] * in * out * k2 * ho * wo / groups,
          out * (in / groups) * k2 + (bias.defined() ? out : 0));
  std::vector<std::string> constants;
  if (x.graph) {
    constants.push_back(x.graph->constant(path() + ".weight", weight.data().slice(0, 0, out).slice(1, 0, in / groups)));
    if (bias.defined()) constants.push_back(x.graph->constant(path() + ".bias", bias.data().slice(0, 0, out)));
  }
  const int64_t k = kernel_, s = options_.stride, p = options_.padding, d = options_.dilation;
  return x.record({x.shape[0], out, ho, wo}, "Conv", constants,
                  {GraphAttr::integers("kernel_shape", {k, k}), GraphAttr::integers("strides", {s, s}),
                   GraphAttr::integers("pads", {p, p, p, p}), GraphAttr::integers("dilations", {d, d}),
                   GraphAttr::integer("group", groups)});
}

}  // namespace mn::nn
