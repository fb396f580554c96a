// Learning-rate schedules, evaluated per iteration (the public MutualNet code steps its cosine
// schedule after every batch). An optional linear warm-up runs first; the main schedule then
// covers the remaining iterations.
#pragma once
#include <cstdint>
#include <vector>

namespace mn::nn {

struct LrSchedule {
  enum class Kind { constant, cosine, step };
  Kind kind = Kind::cosine;
  double base_lr = 0.1;
  int64_t total_iters = 1;      // warm-up included
  int64_t warmup_iters = 0;     // lr rises linearly from warmup_start * base_lr to base_lr
  double warmup_start = 0;
  double min_lr = 0;            // cosine: the value reached at total_iters (PyTorch's eta_min)
  std::vector<int64_t> milestones;  // step: iterations (after warm-up) where lr *= gamma
  double gamma = 0.1;

  // The learning rate for iteration `iter` (0-based): iteration 0 uses lr_at(0).
  double lr_at(int64_t iter) const;
};

}  // namespace mn::nn
