// BN recalibration. Batch-norm running statistics cannot be shared across sub-networks (each
// width and resolution sees different activation statistics), and during MutualNet training they
// mix all of them. So before a (width, resolution) point is evaluated its statistics are
// recomputed: reset, then a few training batches (8 in the public code) run through that
// sub-network in train mode with momentum 1/(k+1), which makes the running mean and variance the
// plain average over those batches; then the network is evaluated in eval mode.
#pragma once
#include <cstdint>
#include <vector>

#include "data/loader.h"
#include "dist/communicator.h"
#include "mutualnet/models/zoo.h"
#include "nn/batchnorm.h"

namespace mn {

std::vector<nn::BatchNorm2d*> batch_norms(models::Model& model);

// Recalibrates the BN statistics of sub-network (width, resolution) from the first
// `num_batches` batches of `loader` (fewer if an epoch has fewer), moved to `device`. The model is
// left in eval mode at its previous width. With several ranks (`comm`), each calibrates on its
// share of those whole batches and the statistics are averaged, weighted by batches: the
// one-process statistics, to float rounding.
void recalibrate_bn(models::Model& model, double width, int64_t resolution, data::Loader& loader,
                    int64_t num_batches, Device device, dist::Communicator* comm = nullptr);

// The running statistics of every BN layer (copies), to switch between calibrated points.
using BnStats = std::vector<Tensor>;
BnStats save_bn_stats(models::Model& model);
void load_bn_stats(models::Model& model, const BnStats& stats);

}  // namespace mn
