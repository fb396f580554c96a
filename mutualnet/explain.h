// `mn train CONFIG --explain`: one MutualNet step, run exactly as `mn train` runs it but without
// writing anything, printed per sub-network: width, channels per stage, resolution, MFLOPs, loss
// term and the norm of the gradient it contributed; then what SGD did with their sum.
#pragma once

#include "mutualnet/config.h"

namespace mn {

void explain_step(const Config& config);

}  // namespace mn
