// Evaluating (width, resolution) points of a trained MutualNet: each point gets its own BN
// recalibration, then one pass over the test set evaluates every point on each batch (swapping
// in that point's BN statistics), so the test images are decoded once per sweep, not per point.
// Used by the per-epoch validation, `mn eval` and `mn sweep`.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "data/loader.h"
#include "dist/communicator.h"
#include "mutualnet/models/zoo.h"
#include "mutualnet/sweep_report.h"
#include "mutualnet/train_step.h"

namespace mn {

struct EvalResult {
  double width = 0;
  int64_t resolution = 0;
  double top1 = 0, top5 = 0;  // percent
  double loss = 0;            // mean cross-entropy
  int64_t images = 0;
};

// calib: training batches carrying every resolution of the points; test: the test set at those
// resolutions. `on_point` (optional) is told when each point's calibration is done. With several
// ranks (`comm`), `test` is this rank's shard of the test set and the counts are summed over
// the ranks, so every rank returns the whole test set's figures.
std::vector<EvalResult> evaluate_points(models::Model& model, const std::vector<Subnet>& points,
                                        data::Loader& calib, data::Loader& test,
                                        int64_t calib_batches, Device device,
                                        const std::function<void(size_t)>& on_point = {},
                                        dist::Communicator* comm = nullptr);

// The grid as sweep points: accuracy plus MFLOPs and active parameters of each sub-network.
std::vector<SweepPoint> with_costs(models::Model& model, const std::vector<EvalResult>& results);

// Widths "0.25:1.0:0.05" (start:stop:step, both ends included, largest first) or "1,0.5,0.25".
std::vector<double> parse_widths(const std::string& s);
std::vector<int64_t> parse_resolutions(const std::string& s);  // "28,24,20,16"

}  // namespace mn
