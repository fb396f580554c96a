// One MutualNet training step: the sandwich rule with width-resolution mutual learning
// (Yang et al., ECCV 2020), on one batch that holds the images at every training resolution.
//
//   1. the widest network (w_max) on the largest resolution R0, cross-entropy with the labels,
//      backward;
//   2. its logits, detached, become the teacher;
//   3. the narrowest network (w_min) and N random widths in [w_min, w_max], largest first, each
//      on a resolution drawn uniformly from the list: KL(softmax(teacher) || softmax(student))
//      averaged over the batch, backward (every sub-network's weights are views of the shared
//      full-width weights, so their gradients add up in one gradient tensor per parameter);
//   4. one optimizer step with the accumulated gradients at this iteration's learning rate
//      (several ranks: after averaging the gradients over them, which starts bucket by bucket
//      during the last backward).
//
// sample_subnets() draws step 3's widths and resolutions; mutualnet_step() runs 1-4.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "mutualnet/config.h"
#include "mutualnet/models/zoo.h"
#include "nn/optim.h"
#include "tensor/random.h"

namespace mn {

struct Subnet {
  double width = 1;
  int64_t resolution = 0;
};

struct StepOptions {
  double width_min = 0.25, width_max = 1.0;
  int64_t num_random_widths = 2;
  bool distill = true;            // false: sub-networks learn from the labels (cross-entropy)
  bool random_resolution = true;  // false: every sub-network sees R0
  double label_smoothing = 0;     // of the widest network's cross-entropy
  bool measure_grad_norms = false;  // fill StepTerm::grad_norm (costs a gradient copy per term)
  // Data parallel: the gradient buckets' size (dist::GradAverager; train.grad_bucket_mb, 4 MiB by
  // default). Small enough that most of the all-reduce overlaps the last backward (ImageNet
  // MobileNet v2's 14 MB of gradients make 4), large enough that each bucket moves at close to
  // full bandwidth.
  int64_t grad_bucket_bytes = int64_t(4) << 20;

  static StepOptions from(const Config& c);
};

// The sub-networks of one step, in the order they run: the widest on R0 first, then the
// narrowest and the random widths, largest first, each on its drawn resolution.
std::vector<Subnet> sample_subnets(const StepOptions& o, const std::vector<int64_t>& resolutions,
                                   Generator& rng);

struct StepTerm {
  Subnet subnet;
  LossKind loss_kind = LossKind::cross_entropy;
  double loss = 0;
  double grad_norm = 0;   // L2 norm of the gradient this term added (measure_grad_norms)
};

// A NaN or infinite loss: the step stops before the optimizer touches the weights.
struct NonFiniteLoss : Error {
  NonFiniteLoss(const std::string& what, StepTerm term) : Error(what), term(std::move(term)) {}
  StepTerm term;
};

// images[k]: the batch at resolutions[k] (N, C, R, R), on the model's device, largest first;
// labels: (N) int64 on the same device. Returns one term per sub-network, in order. Data
// parallel: with `grads_comm`, the batch is this rank's shard, and the accumulated gradients are
// averaged over the ranks (a bucketed all-reduce overlapped with the last backward) before the
// optimizer step. `queued` runs once every backward is queued, before the losses are read back
// (the step's one wait for the device): the trainer starts the next batch's copy there
// (BatchSource::prefetch), so that it runs while the device computes this step.
std::vector<StepTerm> mutualnet_step(models::Model& model, nn::Sgd& optimizer,
                                     const std::vector<Tensor>& images,
                                     const std::vector<int64_t>& resolutions, const Tensor& labels,
                                     const std::vector<Subnet>& subnets, const StepOptions& o,
                                     double lr, dist::Communicator* grads_comm = nullptr,
                                     const std::function<void()>& queued = {});

}  // namespace mn
