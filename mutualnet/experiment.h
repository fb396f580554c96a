// One experiment, built once from a Config: the device, the run's random seeds, the model, the
// datasets and their loaders, the optimizer, the learning-rate schedule and the width/resolution
// sampler. `mn train` (and --explain), `mn eval`, `mn sweep` and `mn bench train` all start
// here, each asking only for the parts it uses, so they cannot disagree on how a piece is made.
//
//   Experiment ex(config, {.train_data = true, .optimizer = true});
//   ex.train_loader->start_epoch(0);
//   mutualnet_step(ex.model, *ex.optimizer, ...);
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "dist/communicator.h"
#include "mutualnet/config.h"
#include "mutualnet/evaluate.h"
#include "mutualnet/models/zoo.h"
#include "mutualnet/train_step.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "tensor/backend.h"
#include "tensor/random.h"

namespace mn {

// Every random stream of a run, derived from its one `seed` here and nowhere else.
struct RunSeeds {
  uint64_t weights;      // initialisation, in module order (init_model)
  uint64_t dropout;      // dropout masks: init_model derives one stream per dropout module
  uint64_t data;         // training order and augmentation: the loader derives per epoch and image
  uint64_t calibration;  // BN-calibration batches: the same images for every evaluated point
  uint64_t sampler;      // the widths and resolutions drawn in each step
};
RunSeeds run_seeds(int64_t seed);

// "auto" -> cuda when mn::cuda_available(), else cpu; "cuda" without a GPU is an error.
Device resolve_device(const Config& c);
// "auto": bf16 on a GPU that computes it (compute capability 8.0+), else tf32; fp32 on the CPU.
Precision resolve_precision(PrecisionPolicy policy, Device device, bool device_has_bf16);
Precision resolve_precision(const Config& c, Device device);  // asks the device
// "auto": channels-last on CUDA, contiguous (NCHW) on the CPU.
MemoryFormat resolve_memory_format(const Config& c, Device device);
models::ModelSpec model_spec(const Config& c);

// What a command needs beyond the config, device, seeds and model.
struct ExperimentParts {
  bool train_data = false;  // the training set and its loader (every resolution of data.resolutions)
  // Evaluation: BN-calibration batches (from the training set) and the test set, both carrying
  // these resolutions, largest (R0) first; empty: none.
  std::vector<int64_t> eval_resolutions = {};
  bool optimizer = false;   // SGD (momentum buffers next to the weights), and the schedule with train_data
};

class Experiment {
 public:
  // Opens the datasets first, so that a missing dataset fails (with the data layer's message)
  // before anything else is built or written; the model is initialised from the run's seeds
  // (and broadcast from rank 0). With several ranks in `comm`, the training and test loaders
  // give this rank's shard of every batch (train.batch_size is the global batch).
  Experiment(Config config, const ExperimentParts& parts, dist::Communicator& comm = dist::world());
  Experiment(const Experiment&) = delete;
  Experiment& operator=(const Experiment&) = delete;

  // Replaces the weights with those of a finished run's `last` or `best` checkpoint (an exported
  // model, mn export, has one model.safetensors, used for either).
  void load_weights(const std::string& run_dir, const std::string& checkpoint);

  // Evaluates the points on the test set, each with its own BN recalibration (evaluate.h).
  std::vector<EvalResult> evaluate(const std::vector<Subnet>& points,
                                   const std::function<void(size_t)>& on_point = {});
  // Recalibrates BN for one point (bn_calibration.h), the batches shared among the ranks.
  void recalibrate(double width, int64_t resolution);

  const Config config;
  dist::Communicator& comm;         // the ranks (CPU tensors: counts, flags, BN statistics)
  dist::Communicator& device_comm;  // the same ranks, for tensors on `device` (NCCL on CUDA when built)
  const RunSeeds seeds;
  const Device device;
  const StepOptions step_options;
  models::Model model;
  std::shared_ptr<const data::Dataset> train_set, test_set;     // null when not asked for
  std::unique_ptr<data::BatchSource> train_loader;              // shuffled, augmented, drop_last (make_train_loader)
  std::unique_ptr<data::Loader> calib_loader, test_loader;      // evaluation
  std::optional<nn::Sgd> optimizer;
  nn::LrSchedule schedule;  // per iteration over train.epochs of train_loader (optimizer + train_data)
  Generator sampler;        // sample_subnets' draws
};

// The training batches of `c` from `dataset` (shard `shard` of `shards` of every batch). With
// data.device_input = "on" (or "auto" on CUDA) they end on `device` (data/device_loader.h): built
// there from the dataset held there when it is in memory and the transforms are a crop, flips and
// the normalization, else built by the CPU loader at R0 and downscaled there; "off" (or "auto" on
// the CPU): the threaded CPU loader alone. The same batches every way.
std::unique_ptr<data::BatchSource> make_train_loader(const Config& c, std::shared_ptr<const data::Dataset> dataset,
                                                     Device device, int shard = 0, int shards = 1);

// A finished run's resolved config with `--set` overrides applied (device, data.root, ...).
Config load_run_config(const std::string& run_dir, const std::vector<std::string>& overrides);

// Checks that (width, resolution) is a point of the run: the width inside its trained range
// [mutualnet.width_min, width_max], the resolution at most R0 (evaluation downscales from it).
void check_point(const Config& c, double width, int64_t resolution);
// What the evaluation loaders must carry for these resolutions (largest first): R0, then them.
std::vector<int64_t> carried_resolutions(const Config& c, const std::vector<int64_t>& resolutions);
// The names of the classes, in label order: the dataset's published label names (Fashion-MNIST,
// MNIST digits, CIFAR-10, CIFAR-100 fine labels) or an image folder's class folders.
std::vector<std::string> class_names(const Config& c);

// A loader of other images (mn predict) that prepares them as evaluation does (the config's eval
// transforms, then R0 downscaled to each resolution); images of any size are first resized
// (shorter side) and centre-cropped to R0 when the config's evaluation does not do that already.
std::unique_ptr<data::Loader> image_loader(const Config& c, std::shared_ptr<const data::Dataset> images,
                                           const std::vector<int64_t>& resolutions);

// The images of a batch on `device`, one tensor (N, C, R, R) per resolution, largest first.
std::vector<Tensor> images_on(const data::Batch& batch, Device device);

}  // namespace mn
