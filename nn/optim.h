// SGD with momentum, Nesterov and weight decay (PyTorch's update rule), over parameter groups that
// carry their own weight decay, and the rule that builds the public ImageNet recipe's groups.
// Its state (momentum buffers named after their parameters, and the step counter) is a StateDict,
// so a checkpoint resumes the exact trajectory.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace mn::nn {

struct ParamGroup {
  std::vector<std::pair<std::string, Variable>> params;
  double weight_decay = 0;
};

enum class DecayRule {
  all,                  // every parameter (the CIFAR recipe)
  conv_and_linear_weights,  // none on depthwise convs, BN parameters or biases (ImageNet recipe)
};
// One or two groups over the module's parameters, named as in named_parameters().
std::vector<ParamGroup> weight_decay_groups(Module& module, double weight_decay, DecayRule rule);

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0;
  double dampening = 0;
  bool nesterov = false;
};

class Sgd {
 public:
  // Momentum buffers are allocated here, next to their parameters: move the model first.
  Sgd(std::vector<ParamGroup> groups, const SgdOptions& options);

  // Updates every parameter that has a gradient; parameters without one are left alone.
  void step();
  void zero_grad();
  void set_lr(double lr) { options_.lr = lr; }
  double lr() const { return options_.lr; }
  int64_t steps() const { return steps_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }

  // "step" (i64 scalar) and "momentum_buffer.<parameter name>" per parameter (with momentum).
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 private:
  struct Slot {
    Variable param;
    Tensor momentum_buffer;
    double weight_decay;
    bool started = false;  // the buffer has received a first gradient
  };
  std::vector<ParamGroup> groups_;
  std::vector<Slot> slots_;
  std::vector<std::string> names_;
  SgdOptions options_;
  int64_t steps_ = 0;
};

}  // namespace mn::nn
