// Linear: a natively slimmable fully connected layer, y = x W[:o, :i]^T + b[:o], where i is the
// width of the input that arrives and o follows the Slimming unless the output is fixed (a
// classifier's classes). Weights start at zero; initialise them with nn/init.h.
#pragma once
#include <memory>

#include "nn/module.h"
#include "nn/slimming.h"

namespace mn::nn {

struct LinearOptions {
  bool bias = true;
  bool slim_in = true;
  bool slim_out = true;  // a classifier passes false
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, const LinearOptions& options = {},
         std::shared_ptr<const Slimming> slimming = nullptr);

  Variable forward(const Variable& x) override;
  Probe trace(const Probe& x) override;
  int64_t active_out() const;

  Variable weight;  // (O, I) at the largest width
  Variable bias;    // (O), undefined without bias

 private:
  int64_t check_in(const Shape& shape) const;

  int64_t out_features_;
  LinearOptions options_;
  std::shared_ptr<const Slimming> slimming_;
};

}  // namespace mn::nn
