// The MutualNet model zoo: slimmable networks with the public code's architectures, parameter
// shapes and parameter names, built from a name and a few options.
//
//   wrn-D-K        WideResNet-D-K: pre-activation basic blocks, 1x1 projection shortcuts
//                  (CIFAR 3x32x32, or 1x28x28 with in_channels = 1)
//   mobilenet_v1   MobileNet v1 (ImageNet)
//   mobilenet_v2   MobileNet v2 (ImageNet): expanded channels by the ratio rule, last 1x1 conv
//                  fixed at 1280 outputs, classifier unslimmed
//   resnet50       ResNet-50 with bottleneck blocks (ImageNet)
//
// Every conv, BN and linear layer reads the model's Width: set it and the network is the
// sub-network of that width.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mutualnet/models/arch.h"
#include "mutualnet/width.h"
#include "nn/module.h"
#include "tensor/random.h"

namespace mn::models {

struct ModelSpec {
  Arch arch = Arch::wrn;
  int depth = 28, widen = 10;  // wrn: depth = 6n + 4
  double dropout = 0;          // wrn: between the two convs of a block, as the public code
  int64_t classes = 100;
  int64_t in_channels = 3;
  int64_t divisor = 8;         // make_divisible's divisor
  double max_width = 1.0;      // parameters are allocated for this width
  double base_width = 1.0;     // an exported sub-network: its width w is the original's w * base_width

  std::string name() const;  // "wrn-28-10", "mobilenet_v2", ...
};

// "wrn-28-10", "mobilenet_v1", "mobilenet_v2", "resnet50" (also "mobilenet-v1", "resnet-50");
// other fields keep their defaults, with 1000 classes for the ImageNet architectures.
ModelSpec parse_model_name(const std::string& name);
// The resolutions and width range of the model's reference recipe (DESIGN.md): ImageNet
// 224/192/160/128; WRN on CIFAR 32/28/24/20, on 28x28 inputs 28/24/20/16.
std::vector<int64_t> recipe_resolutions(const ModelSpec& spec);
std::pair<double, double> recipe_width_range(const ModelSpec& spec);

struct Model {
  ModelSpec spec;
  std::shared_ptr<Width> width;
  std::shared_ptr<nn::Module> net;

  // The network on x, under the precision policy of x's device: a float32 x is cast to the
  // backend's activation dtype (bf16 on CUDA under precision = "bf16") and memory format
  // (channels-last under memory_format = "nhwc") and the logits back to x's dtype, so losses,
  // softmax and the teacher's logits are float32 whatever the activations were. A float64 x (tests
  // in exact arithmetic) stays float64.
  Variable operator()(const Variable& x) const;
};

// Builds the model with zero weights (enough for counting FLOPs and for loading a checkpoint).
Model make_model(const ModelSpec& spec);
// Initialises it as the public code does (kaiming-normal fan-out convs, BN 1 and 0, linear layers
// per architecture), drawing from Generator(weight_seed) in module order, and gives the k-th
// dropout module (module order) its own stream derived from dropout_seed and k.
void init_model(Model& model, uint64_t weight_seed, uint64_t dropout_seed);
inline Model build_model(const ModelSpec& spec, uint64_t weight_seed, uint64_t dropout_seed) {
  Model model = make_model(spec);
  init_model(model, weight_seed, dropout_seed);
  return model;
}

// The architectures (defined in mutualnet/models/<arch>.cpp), uninitialised.
std::shared_ptr<nn::Module> wide_resnet(const ModelSpec& spec, std::shared_ptr<Width> width);
std::shared_ptr<nn::Module> mobilenet_v1(const ModelSpec& spec, std::shared_ptr<Width> width);
std::shared_ptr<nn::Module> mobilenet_v2(const ModelSpec& spec, std::shared_ptr<Width> width);
std::shared_ptr<nn::Module> resnet50(const ModelSpec& spec, std::shared_ptr<Width> width);

}  // namespace mn::models
