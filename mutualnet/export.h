// Exporting one sub-network of a trained MutualNet as a standalone, smaller model (`mn export`):
// its weights sliced out of the shared ones, BN statistics recalibrated at its (width,
// resolution) point, written as a run directory that mn eval / mn predict load (config.toml +
// model.safetensors, width 1.0 being the sub-network: model.base_width) and as model.onnx.
#pragma once
#include <cstdint>
#include <string>

#include "mutualnet/config.h"
#include "mutualnet/models/zoo.h"

namespace mn {

// The config of the model cut from `c` at `width`, with BN statistics stored for `resolution`:
// model.base_width scaled by width, the width range rescaled to it, no BN recalibration
// (train.bn_calib_batches = 0) and a sweep of that one point.
Config exported_config(const Config& c, double width, int64_t resolution);

// A standalone model of spec `spec` (base_width set) holding the prefix slices of `from`'s
// parameters and buffers (the views the sub-network uses: W[:o, :i]), copied.
models::Model slice_model(const models::Model& from, const models::ModelSpec& spec);

struct ExportSummary {
  std::string out_dir;
  int64_t params = 0, full_params = 0;  // exported model's tensors, the source's (elements)
  int folded_bns = 0;
};

// `mn export`: loads the run's checkpoint, recalibrates BN at (width, resolution) and writes
// out_dir/{config.toml, model.safetensors, model.onnx}; fold_bn folds BN into the preceding
// convolutions in model.onnx (model.safetensors keeps the BN layers, so mn can load it).
ExportSummary export_subnet(const std::string& run_dir, const std::string& checkpoint, double width,
                            int64_t resolution, const std::string& out_dir, bool fold_bn,
                            const std::vector<std::string>& overrides);

}  // namespace mn
