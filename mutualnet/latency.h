// Inference latency of sub-networks on the machine that runs mn (mn sweep --latency): the wall
// time of one forward pass of a batch, eval mode, no autograd, the median of `repeats` passes
// after `warmup` passes (which also let cuDNN pick its algorithms). The device is synchronised
// before and after every pass, so a GPU's queued kernels are counted.
#pragma once
#include <cstdint>

#include "mutualnet/models/zoo.h"

namespace mn {

struct LatencyOptions {
  int64_t batch = 1;
  int warmup = 3;
  int repeats = 15;
};

double latency_ms(models::Model& model, double width, int64_t resolution, Device device, const LatencyOptions& options);

}  // namespace mn
