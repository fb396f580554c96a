// Linear: slicing the full weight to the active widths, and the matching shape walk.
#include "nn/linear.h"

#include "autograd/functions.h"

namespace mn::nn {

Linear::Linear(int64_t in_features, int64_t out_features, const LinearOptions& options,
               std::shared_ptr<const Slimming> slimming)
    : out_features_(out_features), options_(options), slimming_(std::move(slimming)) {
  MN_CHECK(in_features > 0 && out_features > 0, "Linear: invalid sizes (in ", in_features,
           ", out ", out_features, ")");
  const int64_t in = options.slim_in && slimming_ ? slimming_->largest(in_features) : in_features;
  const int64_t out =
      options.slim_out && slimming_ ? slimming_->largest(out_features) : out_features;
  weight = Variable(Tensor::zeros({out, in}), true);
  register_parameter("weight", weight);
  if (options.bias) {
    bias = Variable(Tensor::zeros({out}), true);
    register_parameter("bias", bias);
  }
}

int64_t Linear::active_out() const {
  const int64_t full = weight.size(0);
  if (!options_.slim_out || !slimming_) return full;
  const int64_t out = slimming_->active(out_features_);
  MN_CHECK(out >= 1 && out <= full, label("Linear"), ": the current width asks for ", out,
           " outputs, the weight has ", full);
  return out;
}

int64_t Linear::check_in(const Shape& shape) const {
  MN_CHECK(shape.size() == 2, label("Linear"), ": expected (N, features), got ",
           shape_str(shape));
  const int64_t in = shape[1], full = weight.size(1);
  if (options_.slim_in)
    MN_CHECK(in <= full, label("Linear"), ": input has ", in, " features, the weight has ", full);
  else
    MN_CHECK(in == full, label("Linear"), ": input has ", in, " features, expected ", full);
  return in;
}

Variable Linear::forward(const Variable& x) {
  const int64_t in = check_in(x.shape()), out = active_out();
  Variable w = weight;
  if (out < w.size(0)) w = w.slice(0, 0, out);
  if (in < w.size(1)) w = w.slice(1, 0, in);
  std::optional<Variable> b;
  if (bias.defined()) b = cast(out < bias.size(0) ? bias.slice(0, 0, out) : bias, x.dtype());
  // Mixed precision: the float32 master slice feeds the op as a copy in the activations' dtype.
  return linear(x, cast(w, x.dtype()), b);
}

Probe Linear::trace(const Probe& x) {
  const int64_t in = check_in(x.shape), out = active_out();
  x.count(x.shape[0] * in * out, in * out + (bias.defined() ? out : 0));
  std::vector<std::string> constants;
  if (x.graph) {
    constants.push_back(x.graph->constant(path() + ".weight", weight.data().slice(0, 0, out).slice(1, 0, in)));
    if (bias.defined()) constants.push_back(x.graph->constant(path() + ".bias", bias.data().slice(0, 0, out)));
  }
  return x.record({x.shape[0], out}, "Gemm", constants, {GraphAttr::integer("transB", 1)});
}

}  // namespace mn::nn
