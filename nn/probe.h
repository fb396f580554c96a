// Probe: a shape walked through a network instead of data. Each layer's trace() checks the shape
// as its forward would, adds what it costs to the Tally and hands on the shape of its output, so
// counting a sub-network at 224x224 runs no kernel. Multiply-adds are counted the way the public
// MutualNet profiler counts them: convolution Cin*Cout*k*k*Hout*Wout/groups, linear in*out,
// average pooling C*H*W of its input, nothing for batch norm, activations, max pooling or adds.
//
// Model code that is written once as a template over Variable and Probe uses these functions
// under the same names as the differentiable ops (relu(x), x + y, adaptive_avg_pool2d(x, 1, 1)).
// A probe that carries a Graph also records each operator it passes (nn/graph.h: export).
#pragma once
#include <cstdint>

#include <string>
#include <vector>

#include "nn/graph.h"
#include "tensor/tensor.h"

namespace mn::nn {

struct Tally {
  int64_t macs = 0;    // multiply-adds, summed over the batch dimension of the probe
  int64_t params = 0;  // parameters the sub-network actually uses (the active slices)
};

struct Probe {
  Shape shape;
  Tally* tally = nullptr;
  Graph* graph = nullptr;  // when recording: the graph, and the value this probe stands for
  std::string value = "";

  int64_t size(int dim) const;
  int dim() const { return static_cast<int>(shape.size()); }
  Probe flatten(int start_dim = 1) const;
  void count(int64_t macs, int64_t params) const;
  // The probe of an operator's output of shape `out`; when recording, adds the node `op` reading
  // this value and then `inputs` (constants, or other values).
  Probe record(Shape out, std::string op, std::vector<std::string> inputs = {},
               std::vector<GraphAttr> attrs = {}) const;
};

Probe relu(const Probe& x);
Probe relu6(const Probe& x);
Probe add(const Probe& a, const Probe& b);  // shapes must match (residual adds)
inline Probe operator+(const Probe& a, const Probe& b) { return add(a, b); }
Probe adaptive_avg_pool2d(const Probe& x, int64_t out_h, int64_t out_w);

}  // namespace mn::nn
