// Graph recording helpers and BN folding.
#include "nn/graph.h"

#include <cmath>
#include <map>

#include "nn/module.h"

namespace mn::nn {

std::string Graph::constant(const std::string& path_name, const Tensor& t) {
  // A root layer's path is "", so its parameters arrive as ".weight".
  const std::string name = path_name.starts_with('.') ? path_name.substr(1) : path_name;
  for (const auto& [n, c] : constants) MN_CHECK(n != name, "graph: constant '", name, "' recorded twice");
  constants.emplace_back(name, t.to(Device::cpu()).to(DType::f32).contiguous().clone());
  return name;
}

std::string Graph::scalar(double v) {
  const std::string name = cat("scalar_", v);
  for (const auto& [n, c] : constants)
    if (n == name) return name;
  constants.emplace_back(name, Tensor::scalar(v));
  return name;
}

std::string Graph::node(std::string op, std::vector<std::string> inputs, std::vector<GraphAttr> attrs) {
  std::string out = cat("t", nodes.size());
  nodes.push_back({std::move(op), std::move(inputs), out, std::move(attrs)});
  return out;
}

const Tensor& Graph::constant_at(const std::string& name) const {
  for (const auto& [n, c] : constants)
    if (n == name) return c;
  fail("graph: no constant '", name, "'");
}

Graph record_graph(Module& net, const Shape& input_shape) {
  Graph g;
  g.input_shape = input_shape;
  const bool was_training = net.is_training();
  net.eval();
  Probe out = net.trace(Probe{input_shape, nullptr, &g, g.input});
  net.train(was_training);
  g.output = out.value;
  g.output_shape = out.shape;
  return g;
}

int fold_batch_norms(Graph& g) {
  std::map<std::string, int> readers;  // value -> nodes reading it
  for (const GraphNode& n : g.nodes)
    for (const std::string& in : n.inputs) ++readers[in];
  auto replace_constant = [&](const std::string& name, Tensor t) {
    for (auto& [n, c] : g.constants)
      if (n == name) c = std::move(t);
  };
  int folded = 0;
  std::vector<GraphNode> kept;
  for (GraphNode& bn : g.nodes) {
    // Nodes are in execution order, so the BN's producer is already in `kept`.
    GraphNode* conv = nullptr;
    if (bn.op == "BatchNormalization")
      for (GraphNode& k : kept)
        if (k.output == bn.inputs[0] && k.op == "Conv" && readers[k.output] == 1) conv = &k;
    if (!conv) {
      kept.push_back(std::move(bn));
      continue;
    }
    const double eps = bn.attrs.at(0).number;
    const std::vector<float> gamma = g.constant_at(bn.inputs[1]).to_vector<float>(),
                             beta = g.constant_at(bn.inputs[2]).to_vector<float>(),
                             mean = g.constant_at(bn.inputs[3]).to_vector<float>(),
                             var = g.constant_at(bn.inputs[4]).to_vector<float>();
    const Tensor& w = g.constant_at(conv->inputs[1]);
    std::vector<float> weight = w.to_vector<float>();
    const int64_t out = w.size(0), per_out = w.numel() / out;
    std::vector<float> bias = conv->inputs.size() > 2 ? g.constant_at(conv->inputs[2]).to_vector<float>()
                                                      : std::vector<float>(size_t(out), 0.0f);
    for (int64_t o = 0; o < out; ++o) {
      const double s = double(gamma[o]) / std::sqrt(double(var[o]) + eps);
      for (int64_t j = 0; j < per_out; ++j) weight[o * per_out + j] = float(double(weight[o * per_out + j]) * s);
      bias[o] = float((double(bias[o]) - double(mean[o])) * s + double(beta[o]));
    }
    replace_constant(conv->inputs[1], Tensor::from_vector(weight, w.shape()));
    if (conv->inputs.size() > 2)
      replace_constant(conv->inputs[2], Tensor::from_vector(bias, {out}));
    else
      conv->inputs.push_back(g.constant(conv->inputs[1] + ".folded_bias", Tensor::from_vector(bias, {out})));
    conv->output = bn.output;  // later nodes read the BN's output name
    ++folded;
  }
  g.nodes = std::move(kept);
  // The BN parameters no node reads any more.
  std::map<std::string, int> used;
  for (const GraphNode& n : g.nodes)
    for (const std::string& in : n.inputs) ++used[in];
  std::erase_if(g.constants, [&](const auto& c) { return used.count(c.first) == 0; });
  return folded;
}

}  // namespace mn::nn
