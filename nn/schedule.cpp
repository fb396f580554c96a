// LR schedules: closed forms of PyTorch's CosineAnnealingLR and MultiStepLR, after a linear warm-up.
#include "nn/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "tensor/error.h"

namespace mn::nn {

double LrSchedule::lr_at(int64_t iter) const {
  MN_CHECK(iter >= 0 && total_iters > 0 && warmup_iters >= 0 && warmup_iters <= total_iters,
           "lr schedule: iteration ", iter, " with ", warmup_iters, " warm-up of ", total_iters,
           " iterations");
  if (iter < warmup_iters)
    return base_lr * (warmup_start + (1 - warmup_start) * double(iter) / double(warmup_iters));
  const int64_t t = iter - warmup_iters, span = total_iters - warmup_iters;
  switch (kind) {
    case Kind::constant:
      return base_lr;
    case Kind::cosine: {
      if (span == 0) return base_lr;
      const double progress = std::min<double>(t, span) / double(span);
      return min_lr + (base_lr - min_lr) * (1 + std::cos(std::numbers::pi * progress)) / 2;
    }
    case Kind::step: {
      auto passed = std::count_if(milestones.begin(), milestones.end(),
                                  [t](int64_t m) { return m <= t; });
      return base_lr * std::pow(gamma, double(passed));
    }
  }
  fail("lr schedule: unknown kind");
}

}  // namespace mn::nn
