// The fused SGD update (momentum, Nesterov, weight decay) over a list of parameters.
#pragma once
#include "tensor/backend.h"

namespace mn::ops {

void sgd_step(const std::vector<SgdParam>& params, const SgdArgs& args);

}  // namespace mn::ops
