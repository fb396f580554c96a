// Model names, recipe defaults, and building + initialising a model.
#include "mutualnet/models/zoo.h"

#include <regex>

#include "autograd/functions.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/init.h"
#include "nn/linear.h"

namespace mn::models {

Variable Model::operator()(const Variable& x) const {
  Backend& be = backend(x.device());
  const DType activations = x.dtype() == DType::f64 ? DType::f64 : be.activation_dtype();
  const MemoryFormat format = be.memory_format();
  // Already in the activations' dtype and layout (a 1-channel image batch is channels-last too).
  if (activations == x.dtype() && x.data().is_contiguous(format)) return net->forward(x);
  // One copy converts the input's dtype and layout; every layer after keeps both.
  return cast(net->forward(cast(x, activations, format)), x.dtype());
}

std::string ModelSpec::name() const {
  if (arch == Arch::wrn) return cat("wrn-", depth, "-", widen);
  return arch_name(arch);
}

ModelSpec parse_model_name(const std::string& name) {
  ModelSpec spec;
  std::smatch m;
  if (std::regex_match(name, m, std::regex(R"(wrn-(\d+)-(\d+))"))) {
    spec.arch = Arch::wrn;
    spec.depth = std::stoi(m[1]);
    spec.widen = std::stoi(m[2]);
    return spec;
  }
  spec.classes = 1000;
  if (name == "mobilenet_v1" || name == "mobilenet-v1")
    spec.arch = Arch::mobilenet_v1;
  else if (name == "mobilenet_v2" || name == "mobilenet-v2")
    spec.arch = Arch::mobilenet_v2;
  else if (name == "resnet50" || name == "resnet-50")
    spec.arch = Arch::resnet50;
  else
    fail("model: unknown model '", name,
         "' (expected wrn-DEPTH-WIDEN, mobilenet_v1, mobilenet_v2 or resnet50)");
  return spec;
}

std::vector<int64_t> recipe_resolutions(const ModelSpec& spec) {
  if (spec.arch != Arch::wrn) return {224, 192, 160, 128};
  if (spec.in_channels == 1) return {28, 24, 20, 16};
  return {32, 28, 24, 20};
}

std::pair<double, double> recipe_width_range(const ModelSpec& spec) {
  if (spec.arch == Arch::mobilenet_v1) return {0.25, 1.0};
  if (spec.arch == Arch::mobilenet_v2) return {0.7, 1.0};
  if (spec.arch == Arch::wrn && spec.in_channels == 1) return {0.25, 1.0};
  return {0.9, 1.0};
}

Model make_model(const ModelSpec& spec) {
  Model model{spec, std::make_shared<Width>(spec.divisor, spec.max_width, spec.base_width), nullptr};
  switch (spec.arch) {
    case Arch::wrn: model.net = wide_resnet(spec, model.width); break;
    case Arch::mobilenet_v1: model.net = mobilenet_v1(spec, model.width); break;
    case Arch::mobilenet_v2: model.net = mobilenet_v2(spec, model.width); break;
    case Arch::resnet50: model.net = resnet50(spec, model.width); break;
  }
  return model;
}

void init_model(Model& model, uint64_t weight_seed, uint64_t dropout_seed) {
  Generator gen(weight_seed);
  uint64_t dropout_index = 0;
  namespace init = nn::init;
  for (auto& [name, m] : model.net->named_modules()) {
    if (auto* conv = dynamic_cast<nn::Conv2d*>(m)) {
      init::kaiming_normal_(conv->weight.data(), init::Fan::out, gen);
      if (conv->bias.defined()) init::constant_(conv->bias.data(), 0);
    } else if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
      init::constant_(bn->weight.data(), 1);
      init::constant_(bn->bias.data(), 0);
    } else if (auto* fc = dynamic_cast<nn::Linear*>(m)) {
      // The public WRN keeps PyTorch's default linear weights; the ImageNet models use N(0, 0.01).
      if (model.spec.arch == Arch::wrn)
        init::default_uniform_(fc->weight.data(), gen);
      else
        init::normal_(fc->weight.data(), 0, 0.01, gen);
      if (fc->bias.defined()) init::constant_(fc->bias.data(), 0);
    } else if (auto* drop = dynamic_cast<nn::Dropout*>(m)) {
      drop->generator() = Generator(splitmix64(dropout_seed + dropout_index++));
    }
  }
}

}  // namespace mn::models
