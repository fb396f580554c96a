// BatchNorm2d: prefix views of the full-width parameters and statistics.
#include "nn/batchnorm.h"

#include "autograd/functions.h"

namespace mn::nn {

BatchNorm2d::BatchNorm2d(int64_t channels, double ratio, std::shared_ptr<const Slimming> slimming,
                         double momentum, double eps)
    : momentum(momentum), eps(eps) {
  MN_CHECK(channels > 0, "BatchNorm2d: ", channels, " channels");
  const int64_t c = slimming ? slimming->largest(channels, ratio) : channels;
  weight = Variable(Tensor::ones({c}), true);
  bias = Variable(Tensor::zeros({c}), true);
  running_mean = Tensor::zeros({c});
  running_var = Tensor::ones({c});
  register_parameter("weight", weight);
  register_parameter("bias", bias);
  register_buffer("running_mean", running_mean);
  register_buffer("running_var", running_var);
}

int64_t BatchNorm2d::check_channels(int64_t c, const Shape& shape) const {
  MN_CHECK(shape.size() == 4, label("BatchNorm2d"), ": expected (N, C, H, W), got ",
           shape_str(shape));
  MN_CHECK(c <= weight.size(0), label("BatchNorm2d"), ": input has ", c,
           " channels, the layer has ", weight.size(0));
  return c;
}

Variable BatchNorm2d::normalize(const Variable& x, bool relu) {
  const int64_t c = check_channels(x.size(1), x.shape());
  const bool whole = c == weight.size(0);
  const Variable gamma = whole ? weight : weight.slice(0, 0, c), beta = whole ? bias : bias.slice(0, 0, c);
  const Tensor mean = whole ? running_mean : running_mean.slice(0, 0, c),
               var = whole ? running_var : running_var.slice(0, 0, c);
  if (sync && is_training()) return sync_batch_norm(x, gamma, beta, mean, var, momentum, eps, relu, *sync);
  return batch_norm(x, gamma, beta, mean, var, is_training(), momentum, eps, relu);
}

Variable BatchNorm2d::forward(const Variable& x) { return normalize(x, false); }
Variable BatchNorm2d::forward_relu(const Variable& x) { return normalize(x, true); }

Probe BatchNorm2d::trace(const Probe& x) {
  const int64_t c = check_channels(x.size(1), x.shape);
  x.count(0, 2 * c);
  std::vector<std::string> constants;
  if (x.graph)
    for (auto [name, t] : {std::pair{".weight", weight.data()}, {".bias", bias.data()},
                           {".running_mean", running_mean}, {".running_var", running_var}})
      constants.push_back(x.graph->constant(path() + name, t.slice(0, 0, c)));
  return x.record(x.shape, "BatchNormalization", constants, {GraphAttr::real("epsilon", eps)});
}

void BatchNorm2d::reset_running_stats() {
  running_mean.fill_(0);
  running_var.fill_(1);
}

}  // namespace mn::nn
