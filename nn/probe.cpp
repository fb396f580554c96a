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
  return {out, tally};
}

void Probe::count(int64_t macs, int64_t params) const {
  if (!tally) return;
  tally->macs += macs;
  tally->params += params;
}

Probe relu(const Probe& x) { return x; }
Probe relu6(const Probe& x) { return x; }

Probe add(const Probe& a, const Probe& b) {
  MN_CHECK(a.shape == b.shape, "add: shapes ", shape_str(a.shape), " and ", shape_str(b.shape),
           " differ");
  return a;
}

Probe adaptive_avg_pool2d(const Probe& x, int64_t out_h, int64_t out_w) {
  MN_CHECK(x.dim() == 4, "adaptive_avg_pool2d: expected (N, C, H, W), got ", shape_str(x.shape));
  x.count(shape_numel(x.shape), 0);
  return {{x.shape[0], x.shape[1], out_h, out_w}, x.tally};
}

}  // namespace mn::nn
