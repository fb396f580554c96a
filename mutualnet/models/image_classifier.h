// Internal to mutualnet/models/: the layout the ImageNet models share with torchvision's, and so
// their state-dict names: `features` (stem and blocks, then global average pooling) and
// `classifier` (one linear layer).
#pragma once
#include <memory>

#include "nn/linear.h"
#include "nn/pool.h"

namespace mn::models {

class ImageClassifier : public nn::Module {
 public:
  Variable forward(const Variable& x) override { return run(x); }
  nn::Probe trace(const nn::Probe& x) override { return run(x); }

 protected:
  // Ends a constructor that has filled `features` with the stem and blocks.
  void finish(std::shared_ptr<nn::Linear> head) {
    features.push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1, 1));
    classifier.push_back(std::move(head));
    register_module("features", features);
    register_module("classifier", classifier);
  }

  nn::Sequential features;

 private:
  template <class X>
  X run(const X& x) {
    return classifier(features(x).flatten(1));
  }

  nn::Sequential classifier;
};

}  // namespace mn::models
