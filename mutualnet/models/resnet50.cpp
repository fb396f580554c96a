// ResNet-50 as the public MutualNet code builds it: a 7x7 stride-2 stem conv to 64 channels with
// BN, ReLU and 3x3 stride-2 max pooling, four stages of 3, 4, 6, 3 bottleneck blocks with 256,
// 512, 1024, 2048 outputs (1x1 down to a quarter, 3x3 carrying the stride, 1x1 back up, BN after
// each; a 1x1 projection + BN shortcut where the shape changes; ReLU after the add), global
// average pooling and a classifier whose input slims.
// The stem and the bottlenecks' inner channels use the public ratio rule with ratio 1/4:
// make_divisible(4 c w) / 4, a quarter of the slimmed block output, so with divisor 8 they stay
// even. Names: features.0.{0,1}, features.<i>.body.{0,1,3,4,6,7}, features.<i>.shortcut.{0,1},
// classifier.0.
#include "autograd/functions.h"
#include "mutualnet/models/image_classifier.h"
#include "mutualnet/models/zoo.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/pool.h"

namespace mn::models {

namespace {

using std::make_shared;
constexpr double kQuarter = 0.25;

class Bottleneck : public nn::Module {
 public:
  Bottleneck(int64_t in, int64_t out, int stride, double in_ratio,
             const std::shared_ptr<Width>& width)
      : residual_(stride == 1 && in == out) {
    const int64_t mid = out / 4;
    body.push_back(make_shared<nn::Conv2d>(
        in, mid, 1, nn::Conv2dOptions{.in_ratio = in_ratio, .out_ratio = kQuarter}, width));
    body.push_back(make_shared<nn::BatchNorm2d>(mid, kQuarter, width));
    body.push_back(make_shared<nn::ReLU>());
    body.push_back(make_shared<nn::Conv2d>(
        mid, mid, 3,
        nn::Conv2dOptions{.stride = stride, .padding = 1, .in_ratio = kQuarter,
                          .out_ratio = kQuarter},
        width));
    body.push_back(make_shared<nn::BatchNorm2d>(mid, kQuarter, width));
    body.push_back(make_shared<nn::ReLU>());
    body.push_back(
        make_shared<nn::Conv2d>(mid, out, 1, nn::Conv2dOptions{.in_ratio = kQuarter}, width));
    body.push_back(make_shared<nn::BatchNorm2d>(out, 1, width));
    register_module("body", body);
    if (!residual_) {
      shortcut.push_back(make_shared<nn::Conv2d>(
          in, out, 1, nn::Conv2dOptions{.stride = stride, .in_ratio = in_ratio}, width));
      shortcut.push_back(make_shared<nn::BatchNorm2d>(out, 1, width));
      register_module("shortcut", shortcut);
    }
  }

  Variable forward(const Variable& x) override { return run(x); }
  nn::Probe trace(const nn::Probe& x) override { return run(x); }

 private:
  template <class X>
  X run(const X& x) {
    return relu(body(x) + (residual_ ? x : shortcut(x)));
  }

  bool residual_;
  nn::Sequential body, shortcut;
};

class ResNet50 : public ImageClassifier {
 public:
  ResNet50(const ModelSpec& spec, const std::shared_ptr<Width>& width) {
    int64_t channels = 64;
    features.push_back(make_shared<nn::Sequential>(
        make_shared<nn::Conv2d>(
            spec.in_channels, channels, 7,
            nn::Conv2dOptions{.stride = 2, .padding = 3, .slim_in = false, .out_ratio = kQuarter},
            width),
        make_shared<nn::BatchNorm2d>(channels, kQuarter, width), make_shared<nn::ReLU>(),
        make_shared<nn::MaxPool2d>(3, 2, 1)));
    const int64_t blocks[4] = {3, 4, 6, 3};
    for (int stage = 0; stage < 4; ++stage) {
      const int64_t out = (int64_t{64} << stage) * 4;
      for (int64_t i = 0; i < blocks[stage]; ++i) {
        // The first block reads the stem, whose width follows the quarter rule.
        const double in_ratio = stage == 0 && i == 0 ? kQuarter : 1;
        features.push_back(make_shared<Bottleneck>(channels, out, stage > 0 && i == 0 ? 2 : 1,
                                                   in_ratio, width));
        channels = out;
      }
    }
    finish(make_shared<nn::Linear>(channels, spec.classes, nn::LinearOptions{.slim_out = false},
                                   width));
  }
};

}  // namespace

std::shared_ptr<nn::Module> resnet50(const ModelSpec& spec, std::shared_ptr<Width> width) {
  return std::make_shared<ResNet50>(spec, width);
}

}  // namespace mn::models
