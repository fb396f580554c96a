// Conv2d: a natively slimmable 2-D convolution. It owns the weight of the widest network,
// (O, I/groups, k, k), and at run time convolves with the view W[:o, :i] of it, where i is the
// channel count of whatever input arrives and o follows the network's Slimming (unless the output
// is marked non-slimmable). No weights are copied: the sub-network's gradient lands in the
// matching region of the one shared weight gradient.
//
// A depthwise conv follows its input: i channels in, i out, i groups, weight view W[:i].
// Weights start at zero; initialise them with nn/init.h (the model zoo does).
#pragma once
#include <memory>

#include "nn/module.h"
#include "nn/slimming.h"
#include "tensor/backend.h"

namespace mn::nn {

struct Conv2dOptions {
  int stride = 1, padding = 0, dilation = 1;
  int groups = 1;          // a fixed group count > 1 pins both widths (grouped convs do not slim)
  bool depthwise = false;  // groups = channels = the input's width
  bool bias = false;
  bool slim_in = true;     // false: the input width is fixed (a network's first conv: image channels)
  bool slim_out = true;    // false: the output width is fixed
  double in_ratio = 1, out_ratio = 1;  // see nn/slimming.h
};

class Conv2d : public Module {
 public:
  // Without a Slimming object the layer is an ordinary convolution.
  Conv2d(int64_t in_channels, int64_t out_channels, int kernel, const Conv2dOptions& options = {},
         std::shared_ptr<const Slimming> slimming = nullptr);

  Variable forward(const Variable& x) override;
  Probe trace(const Probe& x) override;

  // Output channels for an input of `in` channels at the current width (checks `in` too).
  int64_t active_out(int64_t in) const;
  const Conv2dOptions& options() const { return options_; }
  int kernel() const { return kernel_; }

  Variable weight;  // (O, I/groups, k, k) at the largest width
  Variable bias;    // (O), undefined without bias

 private:
  int64_t groups_for(int64_t in) const { return options_.depthwise ? in : options_.groups; }
  Conv2dArgs args_for(int64_t in) const;

  int64_t out_channels_;  // at width 1.0: what the Slimming scales
  int kernel_;
  Conv2dOptions options_;
  std::shared_ptr<const Slimming> slimming_;
};

}  // namespace mn::nn
