// Module bookkeeping: registration, dotted names, train/eval, the strict state dict, device moves.
#include "nn/module.h"

#include <map>
#include <set>

namespace mn::nn {

namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

void check_local_name(const std::string& name, const char* what) {
  MN_CHECK(!name.empty() && name.find('.') == std::string::npos, "module: ", what, " name '",
           name, "' must be non-empty and contain no '.'");
}

}  // namespace

void load_named_tensors(const std::vector<std::pair<std::string, Tensor>>& into,
                        const StateDict& from, const char* what) {
  std::map<std::string, const Tensor*> given;
  std::vector<std::string> duplicated;
  for (const auto& [name, t] : from)
    if (!given.emplace(name, &t).second) duplicated.push_back(name);

  std::vector<std::string> missing, misshaped;
  std::set<std::string> expected;
  for (const auto& [name, t] : into) {
    expected.insert(name);
    auto it = given.find(name);
    if (it == given.end())
      missing.push_back(name);
    else if (it->second->shape() != t.shape())
      misshaped.push_back(cat(name, " (checkpoint ", shape_str(it->second->shape()), ", model ",
                              shape_str(t.shape()), ")"));
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : from)
    if (!expected.count(name)) unexpected.push_back(name);

  if (!missing.empty() || !misshaped.empty() || !unexpected.empty() || !duplicated.empty()) {
    std::string msg = cat(what, ": state does not match");
    auto list = [&msg](const char* label, const std::vector<std::string>& names) {
      if (names.empty()) return;
      msg += cat("; ", label, ":");
      for (size_t i = 0; i < names.size(); ++i) msg += (i ? ", " : " ") + names[i];
    };
    list("missing", missing);
    list("unexpected", unexpected);
    list("wrong shape", misshaped);
    list("given twice", duplicated);
    throw Error(msg);
  }
  for (const auto& [name, t] : into) {
    const Tensor& src = *given.at(name);
    t.copy_(src.device() == t.device() ? src : src.to(t.device()));
  }
}

template <class F>
void Module::visit(const std::string& prefix, F&& f) const {
  f(prefix, *this);
  for (const auto& [name, child] : children_) child->visit(join(prefix, name), f);
}

std::vector<std::pair<std::string, Variable>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Variable>> out;
  visit("", [&out](const std::string& prefix, const Module& m) {
    for (const auto& [name, p] : m.params_) out.emplace_back(join(prefix, name), *p);
  });
  return out;
}

std::vector<Variable> Module::parameters() const {
  std::vector<Variable> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  visit("", [&out](const std::string& prefix, const Module& m) {
    for (const auto& [name, b] : m.buffers_) out.emplace_back(join(prefix, name), *b);
  });
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  visit("", [&out](const std::string& prefix, const Module& m) {
    out.emplace_back(prefix, const_cast<Module*>(&m));
  });
  return out;
}

std::string Module::path() const {
  if (!parent_) return "";
  return join(parent_->path(), name_);
}

std::string Module::label(const char* kind) const {
  std::string p = path();
  return p.empty() ? std::string(kind) : cat(kind, " ", p);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

StateDict Module::state_dict() const {
  StateDict out;
  visit("", [&out](const std::string& prefix, const Module& m) {
    for (const auto& [name, p] : m.params_) out.emplace_back(join(prefix, name), p->data());
    for (const auto& [name, b] : m.buffers_) out.emplace_back(join(prefix, name), *b);
  });
  return out;
}

void Module::load_state_dict(const StateDict& state) {
  load_named_tensors(state_dict(), state, "load_state_dict");
}

void Module::to(Device device) {
  visit("", [device](const std::string&, const Module& m) {
    for (const auto& [name, p] : m.params_) {
      if (p->device() == device) continue;
      p->set_data(p->data().to(device));
      p->zero_grad();
    }
    for (const auto& [name, b] : m.buffers_) *b = b->to(device);
  });
}

void Module::zero_grad() {
  for (auto& p : parameters()) p.zero_grad();
}

void Module::register_parameter(std::string name, Variable& param) {
  check_local_name(name, "parameter");
  MN_CHECK(param.defined() && param.is_leaf(), "module: parameter '", name,
           "' must be a defined leaf");
  params_.emplace_back(std::move(name), &param);
}

void Module::register_buffer(std::string name, Tensor& buffer) {
  check_local_name(name, "buffer");
  buffers_.emplace_back(std::move(name), &buffer);
}

void Module::register_module(std::string name, Module& child) {
  check_local_name(name, "sub-module");
  MN_CHECK(!child.parent_, "module: '", name, "' is already registered as '", child.path(), "'");
  child.parent_ = this;
  child.name_ = name;
  children_.emplace_back(std::move(name), &child);
}

void Module::register_module(std::string name, std::shared_ptr<Module> child) {
  MN_CHECK(child, "module: sub-module '", name, "' is null");
  register_module(std::move(name), *child);
  owned_.push_back(std::move(child));
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  layers_.push_back(module.get());
  register_module(std::to_string(layers_.size() - 1), std::move(module));
}

Variable Sequential::forward(const Variable& x) {
  Variable y = x;
  for (Module* m : layers_) y = m->forward(y);
  return y;
}

Probe Sequential::trace(const Probe& x) {
  Probe y = x;
  for (Module* m : layers_) y = m->trace(y);
  return y;
}

}  // namespace mn::nn
