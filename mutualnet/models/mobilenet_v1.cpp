// MobileNet v1 as the public MutualNet code builds it: a 3x3 stride-2 stem conv to 32 channels,
// thirteen depthwise-separable blocks (depthwise 3x3 + BN + ReLU6, pointwise 1x1 + BN + ReLU6)
// with widths 64, 128x2, 256x2, 512x6, 1024x2, global average pooling and a linear classifier
// whose input slims and whose classes do not.
// Names: features.0.{0,1} (stem conv, BN), features.<i>.body.{0,1,3,4}, classifier.0.
#include "autograd/functions.h"
#include "mutualnet/models/image_classifier.h"
#include "mutualnet/models/zoo.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"

namespace mn::models {

namespace {

using std::make_shared;

class DepthwiseSeparable : public nn::Module {
 public:
  DepthwiseSeparable(int64_t in, int64_t out, int stride, const std::shared_ptr<Width>& width)
      : body(make_shared<nn::Conv2d>(
                 in, in, 3, nn::Conv2dOptions{.stride = stride, .padding = 1, .depthwise = true},
                 width),
             make_shared<nn::BatchNorm2d>(in, 1, width), make_shared<nn::ReLU6>(),
             make_shared<nn::Conv2d>(in, out, 1, nn::Conv2dOptions{}, width),
             make_shared<nn::BatchNorm2d>(out, 1, width), make_shared<nn::ReLU6>()) {
    register_module("body", body);
  }
  Variable forward(const Variable& x) override { return body(x); }
  nn::Probe trace(const nn::Probe& x) override { return body(x); }

 private:
  nn::Sequential body;
};

class MobileNetV1 : public ImageClassifier {
 public:
  MobileNetV1(const ModelSpec& spec, const std::shared_ptr<Width>& width) {
    int64_t channels = 32;
    features.push_back(make_shared<nn::Sequential>(
        make_shared<nn::Conv2d>(spec.in_channels, channels, 3,
                                nn::Conv2dOptions{.stride = 2, .padding = 1, .slim_in = false},
                                width),
        make_shared<nn::BatchNorm2d>(channels, 1, width), make_shared<nn::ReLU6>()));
    const int64_t stages[5][3] = {{64, 1, 1}, {128, 2, 2}, {256, 2, 2}, {512, 6, 2}, {1024, 2, 2}};
    for (const auto& [out, n, stride] : stages)
      for (int64_t i = 0; i < n; ++i) {
        features.push_back(
            make_shared<DepthwiseSeparable>(channels, out, i == 0 ? int(stride) : 1, width));
        channels = out;
      }
    finish(make_shared<nn::Linear>(channels, spec.classes, nn::LinearOptions{.slim_out = false},
                                   width));
  }
};

}  // namespace

std::shared_ptr<nn::Module> mobilenet_v1(const ModelSpec& spec, std::shared_ptr<Width> width) {
  return std::make_shared<MobileNetV1>(spec, width);
}

}  // namespace mn::models
