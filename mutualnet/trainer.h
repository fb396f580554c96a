// The training run behind `mn train`: epochs of MutualNet steps (train_step.h), per-epoch
// BN-recalibrated validation of the widest and narrowest networks at R0, metrics, checkpoints
// (checkpoint.h), exact resume, and the two ways a run stops early: Ctrl-C (a checkpoint is
// written, then it returns) and a NaN/Inf loss (it stops, the last good checkpoint is kept).
#pragma once
#include <cstdint>
#include <string>

#include "mutualnet/config.h"

namespace mn {

struct TrainOptions {
  std::string run_dir;          // runs/<name>
  bool resume = false;          // continue run_dir's last checkpoint (configs must agree)
  int64_t stop_after_steps = -1;  // behave as if Ctrl-C came after this many steps (tests)
  bool quiet = false;           // no progress output (tests)
};

struct TrainSummary {
  int64_t steps = 0, epochs_done = 0;
  bool interrupted = false;
  double train_seconds = 0;
  double last_loss = 0;            // the widest network's, last step
  double val_top1_max = -1, val_top1_min = -1;  // last validation (percent)
};

// Throws mn::Error for bad input, a NaN/Inf loss (naming step and sub-network) or a config that
// differs from the run being resumed (naming the keys).
TrainSummary train(const Config& config, const TrainOptions& options);

}  // namespace mn
