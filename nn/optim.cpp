// SGD: parameter groups, the fused update through ops::sgd_step, checkpointable state.
#include "nn/optim.h"

#include <set>

#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "tensor/sgd.h"

namespace mn::nn {

std::vector<ParamGroup> weight_decay_groups(Module& module, double weight_decay, DecayRule rule) {
  if (rule == DecayRule::all) return {ParamGroup{module.named_parameters(), weight_decay}};
  // The weights of ordinary convolutions and linear layers decay; everything else does not.
  std::set<const VariableImpl*> decayed;
  for (auto& [name, m] : module.named_modules()) {
    if (auto* conv = dynamic_cast<Conv2d*>(m); conv && !conv->options().depthwise)
      decayed.insert(conv->weight.impl().get());
    else if (auto* lin = dynamic_cast<Linear*>(m))
      decayed.insert(lin->weight.impl().get());
  }
  ParamGroup with{{}, weight_decay}, without{{}, 0};
  for (auto& named : module.named_parameters())
    (decayed.count(named.second.impl().get()) ? with : without).params.push_back(named);
  return {with, without};
}

Sgd::Sgd(std::vector<ParamGroup> groups, const SgdOptions& options)
    : groups_(std::move(groups)), options_(options) {
  MN_CHECK(options.lr >= 0 && options.momentum >= 0 && options.dampening >= 0,
           "sgd: negative lr ", options.lr, ", momentum ", options.momentum, " or dampening ",
           options.dampening);
  MN_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
           "sgd: Nesterov needs momentum > 0 and zero dampening");
  std::set<std::string> seen;
  for (const auto& g : groups_) {
    for (const auto& [name, p] : g.params) {
      MN_CHECK(seen.insert(name).second, "sgd: parameter '", name, "' is in two groups");
      MN_CHECK(p.is_leaf() && p.requires_grad() && p.data().is_contiguous(), "sgd: parameter '",
               name, "' must be a contiguous leaf that requires grad");
      Slot s{p, Tensor(), g.weight_decay};
      if (options.momentum > 0) s.momentum_buffer = Tensor::zeros(p.shape(), p.dtype(), p.device());
      slots_.push_back(std::move(s));
      names_.push_back(name);
    }
  }
}

void Sgd::step() {
  SgdArgs args;
  args.lr = options_.lr;
  args.momentum = options_.momentum;
  args.dampening = options_.dampening;
  args.nesterov = options_.nesterov;
  // PyTorch starts a momentum buffer at the parameter's first gradient (not at zero-then-damped),
  // so parameters seeing their first gradient go through the kernel in their own call.
  std::vector<SgdParam> fresh, running;
  for (Slot& s : slots_) {
    const Tensor& g = s.param.grad();
    if (!g.defined()) continue;
    MN_CHECK(g.shape() == s.param.shape() && g.is_contiguous(), "sgd: gradient of shape ",
             shape_str(g.shape()), " for a parameter of shape ", shape_str(s.param.shape()));
    SgdParam p{s.param.data(), g, s.momentum_buffer, s.weight_decay};
    (s.started || options_.momentum == 0 ? running : fresh).push_back(p);
    s.started = true;
  }
  if (!running.empty()) ops::sgd_step(running, args);
  if (!fresh.empty()) {
    args.first_step = true;
    ops::sgd_step(fresh, args);
  }
  ++steps_;
}

void Sgd::zero_grad() {
  for (Slot& s : slots_) s.param.zero_grad();
}

StateDict Sgd::state_dict() const {
  StateDict out;
  out.emplace_back("step", Tensor::scalar(static_cast<double>(steps_), DType::i64));
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].momentum_buffer.defined())
      out.emplace_back("momentum_buffer." + names_[i], slots_[i].momentum_buffer);
  return out;
}

void Sgd::load_state_dict(const StateDict& state) {
  Tensor step = Tensor::scalar(0, DType::i64);
  StateDict into = state_dict();
  into[0].second = step;
  load_named_tensors(into, state, "sgd load_state_dict");
  steps_ = static_cast<int64_t>(step.item());
  for (Slot& s : slots_) s.started = steps_ > 0;
}

}  // namespace mn::nn
