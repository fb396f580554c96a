// Config -> experiment objects.
#include "mutualnet/experiment.h"

#include <algorithm>
#include <cmath>

#include "io/files.h"
#include "io/safetensors.h"
#include "mutualnet/checkpoint.h"
#include "tensor/backend.h"

namespace mn {

namespace {

std::vector<int> as_int(const std::vector<int64_t>& v) {
  return std::vector<int>(v.begin(), v.end());
}

data::Format format_of(DatasetKind d) {
  switch (d) {
    case DatasetKind::fashion_mnist:
    case DatasetKind::mnist: return data::Format::idx;
    case DatasetKind::cifar10: return data::Format::cifar10;
    case DatasetKind::cifar100: return data::Format::cifar100;
    case DatasetKind::folder: break;
  }
  return data::Format::folder;
}

// The dataset of a split, cut to data.train_limit / data.test_limit images when set.
std::shared_ptr<const data::Dataset> open_dataset(const Config& c, data::Split split) {
  std::shared_ptr<const data::Dataset> ds = data::make_dataset(
      {.format = format_of(c.data.dataset),
       .root = c.data.root,
       .split = split,
       .channels = static_cast<int>(c.model.in_channels),
       .limit = split == data::Split::train ? c.data.train_limit : c.data.test_limit});
  MN_CHECK(ds->num_classes() <= c.model.num_classes, ds->describe(), " has ", ds->num_classes(),
           " classes but model.num_classes = ", c.model.num_classes);
  return ds;
}

data::Normalize normalize(const Config& c) { return {c.data.mean, c.data.std}; }

// Training transforms (augmentation, then normalisation) producing R0 = data.resolutions[0].
data::Pipeline train_pipeline(const Config& c) {
  const int r0 = static_cast<int>(c.data.resolutions[0]);
  const AugmentConfig& a = c.augment;
  std::vector<data::TransformSpec> t;
  switch (a.crop) {
    case CropKind::pad_crop: t.push_back(data::PadRandomCrop{r0, static_cast<int>(a.pad), a.pad_mode}); break;
    case CropKind::random_resized_crop:
      t.push_back(data::RandomResizedCrop{r0, a.scale[0], a.scale[1], a.ratio[0], a.ratio[1]});
      break;
    case CropKind::none:  // on images of varying size, evaluation's resize and centre crop
      if (a.eval_resize > 0) {
        t.push_back(data::Resize{static_cast<int>(a.eval_resize)});
        t.push_back(data::CenterCrop{r0});
      }
      break;
  }
  // The public ImageNet recipe's order: colour jitter, lighting, then the flip.
  if (a.color_jitter > 0) t.push_back(data::ColorJitter{a.color_jitter, a.color_jitter, a.color_jitter});
  if (a.lighting > 0) t.push_back(data::Lighting{a.lighting});
  if (a.flip) t.push_back(data::HorizontalFlip{});
  t.push_back(normalize(c));
  return data::Pipeline(std::move(t));
}

// Evaluation transforms: normalisation only, or resize + centre crop to R0 for image folders.
data::Pipeline eval_pipeline(const Config& c) {
  std::vector<data::TransformSpec> t;
  if (c.augment.eval_resize > 0) {
    t.push_back(data::Resize{static_cast<int>(c.augment.eval_resize)});
    t.push_back(data::CenterCrop{static_cast<int>(c.data.resolutions[0])});
  }
  t.push_back(normalize(c));
  return data::Pipeline(std::move(t));
}

// The loader settings every loader of a run shares.
data::LoaderConfig loader_config(const Config& c, int64_t batch_size, uint64_t seed, bool train,
                                 const std::vector<int64_t>& resolutions) {
  return {.batch_size = batch_size,
          .workers = static_cast<int>(c.data.workers),
          .seed = seed,
          .shuffle = train,
          .drop_last = train,
          .on_bad_image = c.data.on_bad_image,
          .resolutions = as_int(resolutions),
          .antialias = c.data.antialias};
}

nn::LrSchedule lr_schedule(const Config& c, int64_t steps_per_epoch) {
  nn::LrSchedule s;
  s.kind = c.optim.schedule;
  s.base_lr = c.optim.lr;
  s.total_iters = c.train.epochs * steps_per_epoch;
  s.warmup_iters = std::min<int64_t>(
      s.total_iters, static_cast<int64_t>(std::llround(c.optim.warmup_epochs * steps_per_epoch)));
  for (int64_t e : c.optim.milestones) s.milestones.push_back(e * steps_per_epoch - s.warmup_iters);
  s.gamma = c.optim.gamma;
  return s;
}

}  // namespace

RunSeeds run_seeds(int64_t seed) {
  const uint64_t s = static_cast<uint64_t>(seed);
  return {.weights = s,
          .dropout = splitmix64(s ^ 0xD50F0D50F0ull),
          .data = s,
          .calibration = s ^ 0xB1CA11B7A7E5ull,
          .sampler = s * 0x9E3779B97F4A7C15ull + 17};
}

Device resolve_device(const Config& c) {
  switch (c.device) {
    case DevicePolicy::cpu: return Device::cpu();
    case DevicePolicy::cuda:
      MN_CHECK(cuda_available(), "device = \"cuda\" but no CUDA GPU is available (mn built without CUDA, or no "
               "device); use device = \"cpu\" or \"auto\"");
      return Device::cuda();
    case DevicePolicy::automatic: break;
  }
  return cuda_available() ? Device::cuda() : Device::cpu();
}

models::ModelSpec model_spec(const Config& c) {
  models::ModelSpec s;
  s.arch = c.model.arch;
  s.depth = static_cast<int>(c.model.depth);
  s.widen = static_cast<int>(c.model.widen);
  s.dropout = c.model.dropout;
  s.classes = c.model.num_classes;
  s.in_channels = c.model.in_channels;
  s.divisor = c.mutualnet.divisor;
  s.max_width = c.mutualnet.width_max;
  return s;
}

Experiment::Experiment(Config config_, const ExperimentParts& parts)
    : config(std::move(config_)),
      seeds(run_seeds(config.seed)),
      device(resolve_device(config)),
      step_options(StepOptions::from(config)),
      sampler(seeds.sampler) {
  const Config& c = config;
  const bool eval = !parts.eval_resolutions.empty();
  if (parts.train_data || eval) train_set = open_dataset(c, data::Split::train);
  if (eval) test_set = open_dataset(c, data::Split::test);
  if (parts.train_data)
    train_loader = std::make_unique<data::Loader>(
        train_set, train_pipeline(c),
        loader_config(c, c.train.batch_size, seeds.data, true, c.data.resolutions));
  if (eval) {
    data::LoaderConfig calib = loader_config(c, c.train.batch_size, seeds.calibration, true, parts.eval_resolutions);
    calib.prefetch = 1;  // it serves only bn_calib_batches batches per point
    calib_loader = std::make_unique<data::Loader>(train_set, train_pipeline(c), calib);
    test_loader = std::make_unique<data::Loader>(
        test_set, eval_pipeline(c),
        loader_config(c, c.train.eval_batch_size, seeds.data, false, parts.eval_resolutions));
  }

  model = models::build_model(model_spec(c), seeds.weights, seeds.dropout);
  model.net->to(device);
  if (parts.optimizer) {
    nn::SgdOptions o;
    o.lr = c.optim.lr;
    o.momentum = c.optim.momentum;
    o.nesterov = c.optim.nesterov;
    auto rule = c.optim.no_decay_bn_depthwise ? nn::DecayRule::conv_and_linear_weights : nn::DecayRule::all;
    optimizer.emplace(nn::weight_decay_groups(*model.net, c.optim.weight_decay, rule), o);
    if (train_loader) schedule = lr_schedule(c, train_loader->batches_per_epoch());
  }
}

void Experiment::load_weights(const std::string& run_dir, const std::string& checkpoint) {
  MN_CHECK(checkpoint == "last" || checkpoint == "best", "--checkpoint: expected last or best, got '",
           checkpoint, "'");
  const std::string dir = run_dir + "/" + checkpoint;
  MN_CHECK(checkpoint_exists(dir), "no checkpoint in ", dir, " (training writes one after every epoch)");
  NamedTensors tensors;
  for (auto& [name, t] : load_checkpoint_model(dir).tensors) tensors.emplace_back(name, t.to(device));
  model.net->load_state_dict(tensors);
}

std::vector<EvalResult> Experiment::evaluate(const std::vector<Subnet>& points,
                                             const std::function<void(size_t)>& on_point) {
  MN_CHECK(calib_loader && test_loader, "evaluate: the experiment was built without evaluation data");
  return evaluate_points(model, points, *calib_loader, *test_loader, config.train.bn_calib_batches, device,
                         on_point);
}

Config load_run_config(const std::string& run_dir, const std::vector<std::string>& overrides) {
  MN_CHECK(path_exists(run_dir + "/config.toml"), run_dir,
           " is not a run directory (no config.toml); runs are made by: mn train CONFIG");
  return load_config(run_dir + "/config.toml", overrides);
}

std::vector<Tensor> images_on(const data::Batch& batch, Device device) {
  std::vector<Tensor> out;
  for (const Tensor& t : batch.images) out.push_back(t.to(device));
  return out;
}

}  // namespace mn
