// MobileNet v2 as the public MutualNet code builds it: a 3x3 stride-2 stem conv to 32 channels,
// seventeen inverted-residual blocks (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2)
// (6,96,3,1) (6,160,3,2) (6,320,1,1), a 1x1 conv to 1280 channels that never slims, global
// average pooling and an unslimmed classifier.
// The expanded channels of a block follow the public code's ratio rule: with expansion t they are
// make_divisible(c * w) * t for block input c, i.e. always t times the block's actual input width.
// Names: features.0.{0,1}, features.<i>.body.<j>, features.18.{0,1}, classifier.0.
#include "autograd/functions.h"
#include "mutualnet/models/image_classifier.h"
#include "mutualnet/models/zoo.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"

namespace mn::models {

namespace {

using std::make_shared;

class InvertedResidual : public nn::Module {
 public:
  InvertedResidual(int64_t in, int64_t out, int stride, int expand,
                   const std::shared_ptr<Width>& width)
      : residual_(stride == 1 && in == out) {
    const int64_t hidden = in * expand;
    const double t = expand;
    if (expand != 1) {
      body.push_back(make_shared<nn::Conv2d>(in, hidden, 1, nn::Conv2dOptions{.out_ratio = t},
                                             width));
      body.push_back(make_shared<nn::BatchNorm2d>(hidden, t, width));
      body.push_back(make_shared<nn::ReLU6>());
    }
    body.push_back(make_shared<nn::Conv2d>(
        hidden, hidden, 3,
        nn::Conv2dOptions{.stride = stride, .padding = 1, .depthwise = true, .in_ratio = t,
                          .out_ratio = t},
        width));
    body.push_back(make_shared<nn::BatchNorm2d>(hidden, t, width));
    body.push_back(make_shared<nn::ReLU6>());
    body.push_back(
        make_shared<nn::Conv2d>(hidden, out, 1, nn::Conv2dOptions{.in_ratio = t}, width));
    body.push_back(make_shared<nn::BatchNorm2d>(out, 1, width));
    register_module("body", body);
  }

  Variable forward(const Variable& x) override { return run(x); }
  nn::Probe trace(const nn::Probe& x) override { return run(x); }

 private:
  template <class X>
  X run(const X& x) {
    return residual_ ? body(x) + x : body(x);
  }

  bool residual_;
  nn::Sequential body;
};

class MobileNetV2 : public ImageClassifier {
 public:
  MobileNetV2(const ModelSpec& spec, const std::shared_ptr<Width>& width) {
    int64_t channels = 32;
    const int64_t last = 1280;
    features.push_back(make_shared<nn::Sequential>(
        make_shared<nn::Conv2d>(spec.in_channels, channels, 3,
                                nn::Conv2dOptions{.stride = 2, .padding = 1, .slim_in = false},
                                width),
        make_shared<nn::BatchNorm2d>(channels, 1, width), make_shared<nn::ReLU6>()));
    const int64_t stages[7][4] = {{1, 16, 1, 1},  {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1},  {6, 160, 3, 2}, {6, 320, 1, 1}};
    for (const auto& [t, out, n, stride] : stages)
      for (int64_t i = 0; i < n; ++i) {
        features.push_back(make_shared<InvertedResidual>(channels, out, i == 0 ? int(stride) : 1,
                                                         int(t), width));
        channels = out;
      }
    features.push_back(make_shared<nn::Sequential>(
        make_shared<nn::Conv2d>(channels, last, 1, nn::Conv2dOptions{.slim_out = false}, width),
        make_shared<nn::BatchNorm2d>(last), make_shared<nn::ReLU6>()));
    finish(make_shared<nn::Linear>(last, spec.classes));
  }
};

}  // namespace

std::shared_ptr<nn::Module> mobilenet_v2(const ModelSpec& spec, std::shared_ptr<Width> width) {
  return std::make_shared<MobileNetV2>(spec, width);
}

}  // namespace mn::models
