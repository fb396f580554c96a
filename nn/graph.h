// Graph: a network recorded as standard operators, for exporting it (io/onnx.h writes one as
// ONNX). The shape walk records it: trace() a module with a Probe that carries a Graph, and every
// layer adds its operator, with the weights of the active sub-network (copies) as constants.
// Operator and attribute names are ONNX's (Conv, BatchNormalization, Relu, Clip, Add,
// GlobalAveragePool, Flatten, Gemm, MaxPool, AveragePool), the lingua franca of exchanged models.
//
//   nn::Graph g = nn::record_graph(*model.net, {1, 3, 32, 32});   // NCHW, batch free in the file
//   nn::fold_batch_norms(g);                                       // optional
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace mn::nn {

class Module;

struct GraphAttr {
  enum class Kind { integer, integers, number };
  std::string name;
  Kind kind = Kind::integer;
  std::vector<int64_t> ints;  // one value for an integer
  double number = 0;

  static GraphAttr integer(std::string name, int64_t v) { return {std::move(name), Kind::integer, {v}, 0}; }
  static GraphAttr integers(std::string name, std::vector<int64_t> v) { return {std::move(name), Kind::integers, std::move(v), 0}; }
  static GraphAttr real(std::string name, double v) { return {std::move(name), Kind::number, {}, v}; }
};

struct GraphNode {
  std::string op;
  std::vector<std::string> inputs;  // value or constant names
  std::string output;
  std::vector<GraphAttr> attrs;
};

struct Graph {
  std::string input = "input", output;  // value names
  Shape input_shape, output_shape;       // dim 0 is the batch
  std::vector<GraphNode> nodes;          // in execution order
  std::vector<std::pair<std::string, Tensor>> constants;  // float32, CPU, contiguous copies

  // Adds a copy of `t` under `name` (a parameter's dotted name; must be new) and returns the name.
  std::string constant(const std::string& name, const Tensor& t);
  // A float32 scalar constant, shared by every node that uses the same value.
  std::string scalar(double v);
  // Appends a node reading `inputs`; returns the name of its output value.
  std::string node(std::string op, std::vector<std::string> inputs, std::vector<GraphAttr> attrs = {});
  const Tensor& constant_at(const std::string& name) const;
};

// Records `net` in eval mode (as deployed: BN uses its running statistics, dropout is the
// identity) at its current width, for inputs of `input_shape`.
Graph record_graph(Module& net, const Shape& input_shape);

// Folds every BatchNormalization that directly follows a Conv (whose output nothing else reads)
// into that Conv's weight and bias: W' = W * s, b' = (b - mean) * s + beta with
// s = gamma / sqrt(var + eps), computed in double. Others (after an Add, before a Conv in
// pre-activation blocks) stay. Returns the number folded.
int fold_batch_norms(Graph& g);

}  // namespace mn::nn
