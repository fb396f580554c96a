// Shape-walk versions of the free functions model code applies between layers.
#include "nn/probe.h"

namespace mn::nn {

int64_t Probe::size(int dim) const {
  int d = dim < 0 ? dim + this->dim() : dim;
  MN_CHECK(d >= 0 && d < this->dim(), "probe: dim ", dim, " out of range for shape ",
           shape_str(shape));
  return shape[d];
}

Probe Probe::flatten(int start_dim) const {
  MN_CHECK(start_dim >= 0 && start_dim < dim(), "flatten: start dim ", start_dim,
           " out of range for shape ", shape_str(shape));
  Shape out(shape.begin(), shape.begin() + start_dim);
  int64_t rest = 1;
  for (int d = start_dim; d < dim(); ++d) rest *= shape[d];
  out.push_back(rest);
  return record(out, "Flatten", {}, {GraphAttr::integer("axis", start_dim)});
}

void Probe::count(int64_t macs, int64_t params) const {
  if (!tally) return;
  tally->macs += macs;
  tally->params += params;
}

Probe Probe::record(Shape out, std::string op, std::vector<std::string> inputs,
                    std::vector<GraphAttr> attrs) const {
  if (!graph) return {std::move(out), tally};
  inputs.insert(inputs.begin(), value);
  return {std::move(out), tally, graph, graph->node(std::move(op), std::move(inputs), std::move(attrs))};
}

Probe relu(const Probe& x) { return x.record(x.shape, "Relu"); }

Probe relu6(const Probe& x) {
  if (!x.graph) return x;
  return x.record(x.shape, "Clip", {x.graph->scalar(0), x.graph->scalar(6)});
}

Probe add(const Probe& a, const Probe& b) {
  MN_CHECK(a.shape == b.shape, "add: shapes ", shape_str(a.shape), " and ", shape_str(b.shape),
           " differ");
  return a.record(a.shape, "Add", {b.value});
}

Probe adaptive_avg_pool2d(const Probe& x, int64_t out_h, int64_t out_w) {
  MN_CHECK(x.dim() == 4, "adaptive_avg_pool2d: expected (N, C, H, W), got ", shape_str(x.shape));
  MN_CHECK(!x.graph || (out_h == 1 && out_w == 1), "adaptive_avg_pool2d: only the global pooling (1x1) is exported, not ",
           out_h, "x", out_w);
  x.count(shape_numel(x.shape), 0);
  return x.record({x.shape[0], x.shape[1], out_h, out_w}, "GlobalAveragePool");
}

}  // namespace mn::nn
