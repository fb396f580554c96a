// From a Config to the objects of an experiment: the device, the model, the datasets and their
// transform pipelines, the loaders, the optimizer and the learning-rate schedule. `mn train`,
// `mn eval`, `mn sweep` and `mn bench train` all build their pieces here, so they agree.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "mutualnet/config.h"
#include "mutualnet/models/zoo.h"
#include "nn/optim.h"
#include "nn/schedule.h"

namespace mn {

// "auto" -> cuda when mn::cuda_available(), else cpu; "cuda" without a GPU is an error.
Device resolve_device(const Config& c);

models::ModelSpec model_spec(const Config& c);

// The dataset of a split, cut to data.train_limit / data.test_limit images when set. A missing
// dataset fails here, with the data layer's message, before anything is trained.
std::shared_ptr<const data::Dataset> open_dataset(const Config& c, data::Split split);

// Training transforms (augmentation, then normalisation) producing R0 = data.resolutions[0].
data::Pipeline train_pipeline(const Config& c);
// Evaluation transforms: normalisation only, or resize + centre crop to R0 for image folders.
data::Pipeline eval_pipeline(const Config& c);

// Training batches carry every resolution of data.resolutions. Evaluation and BN calibration
// loaders carry `resolutions` (largest = R0 first), in dataset order for evaluation.
std::unique_ptr<data::Loader> train_loader(const Config& c,
                                           std::shared_ptr<const data::Dataset> train_set);
std::unique_ptr<data::Loader> calibration_loader(const Config& c,
                                                 std::shared_ptr<const data::Dataset> train_set,
                                                 const std::vector<int64_t>& resolutions);
std::unique_ptr<data::Loader> eval_loader(const Config& c,
                                          std::shared_ptr<const data::Dataset> test_set,
                                          const std::vector<int64_t>& resolutions);

nn::Sgd make_optimizer(const Config& c, models::Model& model);
nn::LrSchedule lr_schedule(const Config& c, int64_t steps_per_epoch);

// A finished run (`mn eval`, `mn sweep`): its resolved config with `--set` overrides applied
// (device, data.root, ...), and the model of its `last` or `best` checkpoint on `device`.
Config load_run_config(const std::string& run_dir, const std::vector<std::string>& overrides);
models::Model load_run_model(const std::string& run_dir, const std::string& checkpoint,
                             const Config& c, Device device);

}  // namespace mn
