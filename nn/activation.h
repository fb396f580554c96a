// Parameter-free layers that keep the shape: ReLU, ReLU6 and (inverted) Dropout.
#pragma once
#include "nn/module.h"
#include "tensor/random.h"

namespace mn::nn {

class ReLU : public Module {
 public:
  Variable forward(const Variable& x) override;
  Probe trace(const Probe& x) override { return relu(x); }
};

class ReLU6 : public Module {
 public:
  Variable forward(const Variable& x) override;
  Probe trace(const Probe& x) override { return relu6(x); }
};

// Zeroes each element with probability p while training and scales the rest by 1/(1-p); the
// identity in eval mode. Owns its random stream.
class Dropout : public Module {
 public:
  explicit Dropout(double p, uint64_t seed = 0);
  Variable forward(const Variable& x) override;
  Probe trace(const Probe& x) override { return x; }
  double p() const { return p_; }
  Generator& generator() { return gen_; }  // its state travels in training checkpoints

 private:
  double p_;
  Generator gen_;
};

}  // namespace mn::nn
