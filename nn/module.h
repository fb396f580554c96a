// Module: a layer or a network with named parameters, buffers and sub-modules, addressed by stable
// dotted names (`blocks.0.conv1.weight`, the names PyTorch would give the same structure), a
// train/eval switch, a strict state dict and device moves. Every module also has a shape walk
// (trace) that follows the same architecture as forward without computing: it is how FLOPs and
// active parameters of a (width, resolution) sub-network are counted.
//
// Parameters and buffers are members of the concrete module (a Variable, a Tensor) registered by
// address; modules are neither copyable nor movable, so those addresses stay valid.
// A composite module writes its data flow once, as `template <class X> X run(const X& x)`, and
// implements both forward (X = Variable) and trace (X = Probe) with it (see mutualnet/models/), so
// FLOPs are always counted on the architecture that actually runs.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "nn/probe.h"

namespace mn::nn {

// Ordered (name, tensor) pairs: parameters and buffers in registration order, module by module.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

// Copies every tensor of `from` into the same-named tensor of `into` after checking that both name
// the same set of tensors with the same shapes; otherwise throws one mn::Error that lists every
// missing, unexpected and mis-shaped name (`what`: "load_state_dict" or the caller's name).
void load_named_tensors(const std::vector<std::pair<std::string, Tensor>>& into,
                        const StateDict& from, const char* what);

class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  virtual Variable forward(const Variable& x) = 0;
  // The shape walk: same path as forward, reporting multiply-adds and active parameters.
  virtual Probe trace(const Probe& x) = 0;
  Variable operator()(const Variable& x) { return forward(x); }
  Probe operator()(const Probe& x) { return trace(x); }

  // Dotted names relative to this module, depth-first in registration order.
  std::vector<std::pair<std::string, Variable>> named_parameters() const;
  std::vector<Variable> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  // This module first (name ""), then every descendant.
  std::vector<std::pair<std::string, Module*>> named_modules();
  // The module's dotted name from the root it was registered under ("" for a root): for messages.
  std::string path() const;
  // "Conv2d blocks.0.conv1" (just the kind for a root module): how errors name a layer.
  std::string label(const char* kind) const;

  void train(bool on = true);  // recursive, like PyTorch
  void eval() { train(false); }
  bool is_training() const { return training_; }

  StateDict state_dict() const;  // parameters and buffers (the tensors themselves, not copies)
  void load_state_dict(const StateDict& state);
  void to(Device device);  // moves every parameter and buffer; gradients are dropped
  void zero_grad();

 protected:
  void register_parameter(std::string name, Variable& param);
  void register_buffer(std::string name, Tensor& buffer);
  // A sub-module that is a member of this one.
  void register_module(std::string name, Module& child);
  // A sub-module this one owns through the pointer (containers such as Sequential).
  void register_module(std::string name, std::shared_ptr<Module> child);

 private:
  template <class F>
  void visit(const std::string& prefix, F&& f) const;

  std::vector<std::pair<std::string, Variable*>> params_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<std::pair<std::string, Module*>> children_;
  std::vector<std::shared_ptr<Module>> owned_;
  const Module* parent_ = nullptr;
  std::string name_;  // within the parent
  bool training_ = true;
};

// Runs its children one after another; they are named "0", "1", ...
class Sequential : public Module {
 public:
  Sequential() = default;
  template <class... M>
  explicit Sequential(std::shared_ptr<M>... modules) {
    (push_back(std::move(modules)), ...);
  }
  void push_back(std::shared_ptr<Module> module);
  size_t size() const { return layers_.size(); }
  Module& operator[](size_t i) const { return *layers_.at(i); }

  Variable forward(const Variable& x) override;
  Probe trace(const Probe& x) override;

 private:
  std::vector<Module*> layers_;
};

}  // namespace mn::nn
