// Variable: a Tensor plus its place on the autograd tape (define-by-run). Leaves (parameters,
// inputs) accumulate .grad() across backward() calls; interior results point at the Node that made
// them. Views of a leaf (slice, transpose, ...) send their gradient straight into the matching
// region of the leaf's gradient, which is how every MutualNet sub-network shares one weight.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "tensor/tensor.h"

namespace mn {

struct VariableImpl;

// One recorded op: its backward maps the gradient of its output to gradients of its inputs
// (undefined Tensor = no gradient for that input). The closure owns the saved buffers and is
// released as soon as it has run.
struct Node {
  const char* name;
  std::function<std::vector<Tensor>(const Tensor& grad_output)> backward;
  // Per input: the interior node or the leaf that receives the gradient (both null: none needed).
  struct Edge {
    std::shared_ptr<Node> node;
    std::shared_ptr<VariableImpl> leaf;
  };
  std::vector<Edge> inputs;
  // A direct view of a leaf (Variable::view_op): its backward adds into a region of this leaf's
  // gradient itself, so the engine counts it among the leaf's contributors.
  std::shared_ptr<VariableImpl> region_of;
};

// Called by backward() as soon as a leaf has received every gradient that this backward sends
// it, while the rest of the graph is still being differentiated (data-parallel training starts
// averaging a finished gradient over the ranks there).
using LeafDoneHook = std::function<void(const VariableImpl& leaf)>;

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor data, bool requires_grad = false);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& data() const;
  // Replace the values of a leaf (optimizer updates, loading, moving between devices).
  void set_data(const Tensor& data) const;
  const Shape& shape() const { return data().shape(); }
  int64_t size(int dim) const { return data().size(dim); }
  int dim() const { return data().dim(); }
  int64_t numel() const { return data().numel(); }
  DType dtype() const { return data().dtype(); }
  Device device() const { return data().device(); }

  bool requires_grad() const;
  bool is_leaf() const;
  const Variable& set_requires_grad(bool on) const;  // leaves only
  const Tensor& grad() const;                        // undefined until a backward reaches it
  void set_grad(const Tensor& g) const;
  void zero_grad() const;  // drops the gradient (the next backward allocates it zeroed)

  // Backpropagate from this variable; grad defaults to 1 for a one-element output.
  void backward(const Tensor& grad = {}, const LeafDoneHook& on_leaf_done = {}) const;
  Variable detach() const;  // same data, no history

  // Differentiable views.
  Variable slice(int dim, int64_t start, int64_t end) const;
  Variable view(const Shape& shape) const;
  Variable reshape(const Shape& shape) const;
  Variable flatten(int start_dim = 1) const;
  Variable permute(const std::vector<int>& order) const;
  Variable transpose(int a, int b) const;
  Variable unsqueeze(int dim) const;
  Variable squeeze(int dim) const;
  Variable expand(const Shape& shape) const;
  Variable contiguous() const;

  const std::shared_ptr<VariableImpl>& impl() const { return impl_; }
  // Builds the result of a differentiable op: records `backward` when grad mode is on and an
  // input needs a gradient; otherwise drops it (and the buffers it saved).
  static Variable make(Tensor out, const char* name, const std::vector<Variable>& inputs,
                       std::function<std::vector<Tensor>(const Tensor&)> backward);

 private:
  std::shared_ptr<VariableImpl> impl_;
  Variable view_op(const char* name, Tensor out,
                   std::function<Tensor(const Tensor&)> backward) const;
};

// Grad mode (thread-local): inside a NoGradGuard no graph is recorded.
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace mn
