// The autograd engine: recording ops (Variable::make), differentiable views, and backward().
#include "autograd/variable.h"

#include <numeric>
#include <unordered_map>

#include "tensor/elementwise.h"
#include "tensor/reduce.h"

namespace mn {

struct VariableImpl {
  Tensor data;
  Tensor grad;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  // The leaf this variable is a view of, when its gradient can go straight into a region of the
  // leaf's gradient (views that share the leaf's storage and never overlap themselves).
  std::shared_ptr<VariableImpl> view_base;
};

namespace {

thread_local bool g_grad_enabled = true;

// Adds g into a leaf's gradient; the first gradient allocates it.
void accumulate(VariableImpl& leaf, const Tensor& g) {
  MN_CHECK(g.shape() == leaf.data.shape(), "backward: gradient of shape ", shape_str(g.shape()),
           " for a leaf of shape ", shape_str(leaf.data.shape()));
  if (!leaf.grad.defined())
    leaf.grad = g.clone();
  else
    ops::add_(leaf.grad, g);
}

// Adds g into the region of base's gradient that `view` covers (view shares base's storage).
void accumulate_region(VariableImpl& base, const Tensor& view, const Tensor& g) {
  if (!base.grad.defined()) base.grad = Tensor::zeros(base.data.shape(), base.data.dtype(), base.data.device());
  Tensor region = base.grad.as_strided(view.shape(), view.strides(), view.offset() - base.data.offset());
  ops::add_(region, g);
}

// For each node of `run` (the order backward() runs them in), the leaves it is the last to send
// a gradient to, each leaf once and in input order (the same order on every rank of a
// data-parallel run, which launches collectives from LeafDoneHook).
std::vector<std::vector<VariableImpl*>> leaves_done_after(const std::vector<Node*>& run) {
  auto each_leaf = [](const Node& node, auto&& f) {
    for (const Node::Edge& e : node.inputs)
      if (e.leaf) f(e.leaf.get());
    if (node.region_of) f(node.region_of.get());
  };
  std::unordered_map<VariableImpl*, size_t> last;
  for (size_t i = 0; i < run.size(); ++i) each_leaf(*run[i], [&](VariableImpl* leaf) { last[leaf] = i; });
  std::vector<std::vector<VariableImpl*>> done(run.size());
  for (size_t i = 0; i < run.size(); ++i)
    each_leaf(*run[i], [&](VariableImpl* leaf) {
      auto it = last.find(leaf);
      if (it != last.end() && it->second == i) {
        done[i].push_back(leaf);
        last.erase(it);
      }
    });
  return done;
}

}  // namespace

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

Variable::Variable(Tensor data, bool requires_grad) : impl_(std::make_shared<VariableImpl>()) {
  impl_->data = std::move(data);
  set_requires_grad(requires_grad);
}

const Tensor& Variable::data() const {
  MN_CHECK(impl_, "undefined Variable");
  return impl_->data;
}

void Variable::set_data(const Tensor& data) const {
  MN_CHECK(is_leaf(), "set_data: only a leaf's values can be replaced");
  impl_->data = data;
}

bool Variable::requires_grad() const { return impl_ && impl_->requires_grad; }
bool Variable::is_leaf() const { return impl_ && !impl_->grad_fn; }

const Variable& Variable::set_requires_grad(bool on) const {
  MN_CHECK(is_leaf(), "set_requires_grad: only leaves can change requires_grad");
  MN_CHECK(!on || is_floating(impl_->data.dtype()), "set_requires_grad: a ",
           dtype_name(impl_->data.dtype()), " tensor cannot require gradients");
  impl_->requires_grad = on;
  return *this;
}

const Tensor& Variable::grad() const { return data(), impl_->grad; }
void Variable::set_grad(const Tensor& g) const { data(), impl_->grad = g; }
void Variable::zero_grad() const { data(), impl_->grad = Tensor(); }

Variable Variable::detach() const { return Variable(data()); }

Variable Variable::make(Tensor out, const char* name, const std::vector<Variable>& inputs,
                        std::function<std::vector<Tensor>(const Tensor&)> backward) {
  bool needs = false;
  if (grad_enabled())
    for (const auto& v : inputs) needs = needs || v.requires_grad();
  Variable result(std::move(out));
  if (!needs) return result;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(backward);
  for (const auto& v : inputs) {
    Node::Edge e;
    if (v.requires_grad()) {
      if (v.is_leaf())
        e.leaf = v.impl_;
      else
        e.node = v.impl_->grad_fn;
    }
    node->inputs.push_back(std::move(e));
  }
  result.impl_->requires_grad = true;
  result.impl_->grad_fn = std::move(node);
  return result;
}

Variable Variable::view_op(const char* name, Tensor out,
                           std::function<Tensor(const Tensor&)> backward) const {
  std::shared_ptr<VariableImpl> base =
      is_leaf() && requires_grad() && impl_->data.is_contiguous() ? impl_ : impl_->view_base;
  if (base && grad_enabled() && out.storage() == base->data.storage()) {
    // Direct path: the gradient lands in the base leaf's gradient region, no full-size temporary.
    Tensor view = out;
    Variable result = make(out, name, {*this}, [base, view](const Tensor& g) {
      accumulate_region(*base, view, g);
      return std::vector<Tensor>{Tensor()};
    });
    result.impl_->grad_fn->inputs[0] = {};  // handled above; the engine has nothing to send
    result.impl_->grad_fn->region_of = base;
    result.impl_->view_base = base;
    return result;
  }
  return make(std::move(out), name, {*this},
              [backward](const Tensor& g) { return std::vector<Tensor>{backward(g)}; });
}

Variable Variable::slice(int dim, int64_t start, int64_t end) const {
  Shape in_shape = shape();
  int d = data().wrap_dim(dim);
  return view_op("slice", data().slice(dim, start, end), [=](const Tensor& g) {
    Tensor full = Tensor::zeros(in_shape, g.dtype(), g.device());
    full.slice(d, start, end).copy_(g);
    return full;
  });
}

Variable Variable::view(const Shape& shape) const {
  Shape in_shape = this->shape();
  return view_op("view", data().view(shape), [in_shape](const Tensor& g) { return g.reshape(in_shape); });
}

Variable Variable::reshape(const Shape& shape) const {
  Shape in_shape = this->shape();
  return view_op("reshape", data().reshape(shape),
                 [in_shape](const Tensor& g) { return g.reshape(in_shape); });
}

Variable Variable::flatten(int start_dim) const {
  int s = data().wrap_dim(start_dim);
  Shape out(shape().begin(), shape().begin() + s);
  out.push_back(-1);
  return reshape(out);
}

Variable Variable::permute(const std::vector<int>& order) const {
  std::vector<int> inverse(order.size());
  for (size_t i = 0; i < order.size(); ++i) inverse[data().wrap_dim(order[i])] = static_cast<int>(i);
  return view_op("permute", data().permute(order),
                 [inverse](const Tensor& g) { return g.permute(inverse); });
}

Variable Variable::transpose(int a, int b) const {
  return view_op("transpose", data().transpose(a, b),
                 [a, b](const Tensor& g) { return g.transpose(a, b); });
}

Variable Variable::unsqueeze(int dim) const {
  Shape in_shape = shape();
  return view_op("unsqueeze", data().unsqueeze(dim),
                 [in_shape](const Tensor& g) { return g.reshape(in_shape); });
}

Variable Variable::squeeze(int dim) const {
  Shape in_shape = shape();
  return view_op("squeeze", data().squeeze(dim),
                 [in_shape](const Tensor& g) { return g.reshape(in_shape); });
}

Variable Variable::expand(const Shape& shape) const {
  // Not a direct view: expanded elements overlap, so the gradient is summed back first.
  Shape in_shape = this->shape();
  return make(data().expand(shape), "expand", {*this}, [in_shape](const Tensor& g) {
    return std::vector<Tensor>{ops::sum_to(g, in_shape)};
  });
}

Variable Variable::contiguous() const {
  if (data().is_contiguous()) return *this;
  return make(data().contiguous(), "contiguous", {*this},
              [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

void Variable::backward(const Tensor& grad, const LeafDoneHook& on_leaf_done) const {
  MN_CHECK(requires_grad(), "backward: this variable does not require grad (no input needed a gradient)");
  Tensor g = grad;
  if (!g.defined()) {
    MN_CHECK(numel() == 1, "backward: an implicit gradient needs a one-element output, got shape ",
             shape_str(shape()));
    g = Tensor::ones(shape(), dtype(), device());
  }
  MN_CHECK(g.shape() == shape(), "backward: gradient shape ", shape_str(g.shape()),
           " differs from output shape ", shape_str(shape()));
  if (is_leaf()) {
    accumulate(*impl_, g);
    if (on_leaf_done) on_leaf_done(*impl_);
    return;
  }
  // Reverse topological order of the nodes reachable from this one (iterative DFS: graphs of
  // deep networks would overflow a recursive one).
  std::vector<Node*> order;
  std::unordered_map<Node*, bool> visited;
  std::vector<std::pair<Node*, size_t>> stack{{impl_->grad_fn.get(), 0}};
  visited[impl_->grad_fn.get()] = true;
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      Node* child = node->inputs[next++].node.get();
      if (child && !visited[child]) {
        visited[child] = true;
        stack.push_back({child, 0});
      }
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  const std::vector<Node*> run(order.rbegin(), order.rend());
  std::vector<std::vector<VariableImpl*>> done;  // with the hook: the leaves final after each node
  if (on_leaf_done) done = leaves_done_after(run);
  std::unordered_map<Node*, Tensor> pending{{impl_->grad_fn.get(), g}};
  for (size_t k = 0; k < run.size(); ++k) {
    Node* node = run[k];
    // A node no gradient reached (every one sent to it was undefined) sends none on.
    if (auto found = pending.find(node); found != pending.end()) {
      Tensor node_grad = std::move(found->second);
      pending.erase(found);
      MN_CHECK(node->backward, "backward: the graph through '", node->name,
               "' was already used by an earlier backward() and its buffers were freed");
      std::vector<Tensor> grads = node->backward(node_grad);
      node->backward = nullptr;  // frees the buffers it saved
      MN_CHECK(grads.size() == node->inputs.size(), "backward of '", node->name, "' returned ",
               grads.size(), " gradients for ", node->inputs.size(), " inputs");
      for (size_t i = 0; i < grads.size(); ++i) {
        if (!grads[i].defined()) continue;
        const Node::Edge& e = node->inputs[i];
        if (e.leaf) {
          accumulate(*e.leaf, grads[i]);
        } else if (e.node) {
          auto [slot, fresh] = pending.try_emplace(e.node.get(), grads[i]);
          if (!fresh) slot->second = ops::add(slot->second, grads[i]);
        }
      }
    }
    if (on_leaf_done)
      for (VariableImpl* leaf : done[k]) on_leaf_done(*leaf);
  }
}

}  // namespace mn
