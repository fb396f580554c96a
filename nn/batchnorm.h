// BatchNorm2d: slimmable batch normalisation. It owns affine parameters and running statistics for
// the widest network and normalises an input of c channels with their first c entries (views, so
// training updates exactly the running statistics of the active channels).
#pragma once
#include <memory>
#include <optional>

#include "autograd/functions.h"
#include "nn/module.h"
#include "nn/slimming.h"

namespace mn::nn {

class BatchNorm2d : public Module {
 public:
  // `channels` (and `ratio`) at width 1.0; with a Slimming the tensors are sized for its largest
  // width. Starts as PyTorch does: weight 1, bias 0, running mean 0, running variance 1.
  explicit BatchNorm2d(int64_t channels, double ratio = 1,
                       std::shared_ptr<const Slimming> slimming = nullptr, double momentum = 0.1,
                       double eps = 1e-5);

  Variable forward(const Variable& x) override;
  Probe trace(const Probe& x) override;
  // relu(forward(x)) as one fused op, for model code written over Variable and Probe alike;
  // a probe (FLOPs, export) sees the two ops.
  Variable forward_relu(const Variable& x);
  Probe forward_relu(const Probe& x) { return relu(trace(x)); }
  void reset_running_stats();  // mean 0, variance 1 (before BN recalibration)

  Variable weight, bias;          // (C)
  Tensor running_mean, running_var;  // (C)
  // When set, training normalises with the statistics of every data-parallel process's batch
  // (sync_batch_norm); unset, with this process's own.
  std::optional<ProcessGroup> sync;
  double momentum;  // running = (1 - momentum) * running + momentum * batch; 1/(k+1) averages
  double eps;

 private:
  int64_t check_channels(int64_t c, const Shape& shape) const;
  Variable normalize(const Variable& x, bool relu);
};

}  // namespace mn::nn
