// Config -> experiment objects.
#include "mutualnet/experiment.h"

#include <algorithm>
#include <cmath>

#include "data/device_loader.h"
#include "io/files.h"
#include "io/safetensors.h"
#include "mutualnet/bn_calibration.h"
#include "mutualnet/checkpoint.h"
#include "mutualnet/fetch.h"
#include "tensor/backend.h"
#include "tensor/conv2d_dnnl.h"

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

// The dataset of a split, cut to data.train_limit / data.test_limit images when set. When it
// cannot be opened, the message ends with the mn fetch command that downloads it.
std::shared_ptr<const data::Dataset> open_dataset(const Config& c, data::Split split) {
  std::shared_ptr<const data::Dataset> ds;
  try {
    ds = data::make_dataset({.format = format_of(c.data.dataset),
                             .root = c.data.root,
                             .split = split,
                             .channels = static_cast<int>(c.model.in_channels),
                             .limit = split == data::Split::train ? c.data.train_limit : c.data.test_limit});
  } catch (const data::ImageError&) {
    throw;  // a bad image in a dataset that is there
  } catch (const Error& e) {
    const std::string fetch = fetch_command(c);
    if (fetch.empty()) throw;
    const std::string message = e.what();
    fail(message, message.ends_with('.') ? " " : ". ", "To download it: ", fetch);
  }
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

// Evaluation transforms: normalisation only, or resize + centre crop to R0 for image folders
// (and, with any_size, for images of any size: resize the shorter side to R0 itself).
data::Pipeline eval_pipeline(const Config& c, bool any_size = false) {
  std::vector<data::TransformSpec> t;
  const int r0 = static_cast<int>(c.data.resolutions[0]);
  if (c.augment.eval_resize > 0 || any_size) {
    t.push_back(data::Resize{c.augment.eval_resize > 0 ? static_cast<int>(c.augment.eval_resize) : r0});
    t.push_back(data::CenterCrop{r0});
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

Precision resolve_precision(PrecisionPolicy policy, Device device, bool device_has_bf16) {
  switch (policy) {
    case PrecisionPolicy::fp32: return Precision::fp32;
    case PrecisionPolicy::tf32: return Precision::tf32;
    case PrecisionPolicy::bf16: return Precision::bf16;
    case PrecisionPolicy::automatic: break;
  }
  if (device.is_cpu()) return Precision::fp32;
  return device_has_bf16 ? Precision::bf16 : Precision::tf32;
}

Precision resolve_precision(const Config& c, Device device) {
  return resolve_precision(c.precision, device, device.is_cuda() && cuda_bf16_supported());
}

MemoryFormat resolve_memory_format(const Config& c, Device device) {
  switch (c.memory_format) {
    case MemoryFormatPolicy::nchw: return MemoryFormat::contiguous;
    case MemoryFormatPolicy::nhwc: return MemoryFormat::channels_last;
    case MemoryFormatPolicy::automatic: break;
  }
  // NHWC where the convolutions run it natively: cuDNN, and oneDNN on the CPU, which reads and
  // writes NHWC in place where NCHW costs a reorder into its blocked layout and back per conv.
  return device.is_cuda() || dnnl_conv::built ? MemoryFormat::channels_last : MemoryFormat::contiguous;
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
  s.base_width = c.model.base_width;
  return s;
}

Experiment::Experiment(Config config_, const ExperimentParts& parts, dist::Communicator& comm_)
    : config(std::move(config_)),
      comm(comm_),
      device_comm(comm_.size() > 1 ? dist::for_device(resolve_device(config)) : comm_),
      seeds(run_seeds(config.seed)),
      device(resolve_device(config)),
      step_options(StepOptions::from(config)),
      sampler(seeds.sampler) {
  const Config& c = config;
  backend(device).set_precision(resolve_precision(c, device));
  backend(device).set_memory_format(resolve_memory_format(c, device));
  const bool eval = !parts.eval_resolutions.empty();
  if (parts.train_data || eval) train_set = open_dataset(c, data::Split::train);
  if (eval) test_set = open_dataset(c, data::Split::test);
  // Equal shards, so that the mean of the ranks' gradients is the global batch's gradient (the
  // optimizer alone: mn bench train's random batch).
  MN_CHECK(!(parts.train_data || parts.optimizer) || c.train.batch_size % comm.size() == 0, "train.batch_size = ",
           c.train.batch_size, " does not split evenly across ", comm.size(), " processes");
  if (parts.train_data) train_loader = make_train_loader(c, train_set, device, comm.rank(), comm.size());
  if (eval) {
    // Calibration batches stay whole: each rank takes whole batches of them (bn_calibration.h).
    data::LoaderConfig calib = loader_config(c, c.train.batch_size, seeds.calibration, true, parts.eval_resolutions);
    calib.prefetch = 1;  // it serves only bn_calib_batches batches per point
    calib_loader = std::make_unique<data::Loader>(train_set, train_pipeline(c), calib);
    data::LoaderConfig test = loader_config(c, c.train.eval_batch_size, seeds.data, false, parts.eval_resolutions);
    test.shard = comm.rank(), test.shards = comm.size();
    test_loader = std::make_unique<data::Loader>(test_set, eval_pipeline(c), test);
  }

  model = models::build_model(model_spec(c), seeds.weights, seeds.dropout);
  model.net->to(device);
  dist::broadcast_module(device_comm, *model.net);
  // Several processes: training batch norm over the global batch, so they train as one.
  if (device_comm.size() > 1 && c.train.sync_bn)
    for (nn::BatchNorm2d* bn : batch_norms(model))
      bn->sync = ProcessGroup{device_comm.rank(), device_comm.size(),
                              [&all = device_comm](const Tensor& t) { all.all_reduce_sum(t); },
                              [&all = device_comm](double v) { return all.sum(v); }};
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
  const bool exported = !checkpoint_exists(dir) && path_exists(run_dir + "/model.safetensors");  // mn export
  MN_CHECK(exported || checkpoint_exists(dir), "no checkpoint in ", dir, " (training writes one after every epoch)");
  const SafetensorsFile file = exported ? load_safetensors(run_dir + "/model.safetensors") : load_checkpoint_model(dir);
  NamedTensors tensors;
  for (auto& [name, t] : file.tensors) tensors.emplace_back(name, t.to(device));
  model.net->load_state_dict(tensors);
}

std::vector<EvalResult> Experiment::evaluate(const std::vector<Subnet>& points,
                                             const std::function<void(size_t)>& on_point) {
  MN_CHECK(calib_loader && test_loader, "evaluate: the experiment was built without evaluation data");
  // Evaluation's tensors (batches of eval_batch_size, one resolution each) have other sizes than
  // training's, so the allocator's cached blocks of one phase are of no use to the other: handing
  // them back on the way in and out keeps the process at the larger phase's peak, not the sum.
  backend(device).empty_cache();
  std::vector<EvalResult> results = evaluate_points(model, points, *calib_loader, *test_loader,
                                                    config.train.bn_calib_batches, device, on_point, &comm);
  backend(device).empty_cache();
  return results;
}

void Experiment::recalibrate(double width, int64_t resolution) {
  MN_CHECK(calib_loader, "recalibrate: the experiment was built without evaluation data");
  recalibrate_bn(model, width, resolution, *calib_loader, config.train.bn_calib_batches, device, &comm);
}

std::unique_ptr<data::BatchSource> make_train_loader(const Config& c, std::shared_ptr<const data::Dataset> dataset,
                                                     Device device, int shard, int shards) {
  data::LoaderConfig lc = loader_config(c, c.train.batch_size, run_seeds(c.seed).data, true, c.data.resolutions);
  lc.shard = shard, lc.shards = shards;
  data::Pipeline pipeline = train_pipeline(c);
  const DeviceInput input = c.data.device_input;
  if (input == DeviceInput::off || (input == DeviceInput::automatic && device.is_cpu()))
    return std::make_unique<data::Loader>(std::move(dataset), std::move(pipeline), lc);
  if (data::DeviceLoader::unsupported(*dataset, pipeline).empty())
    return std::make_unique<data::DeviceLoader>(std::move(dataset), std::move(pipeline), lc, device);
  return std::make_unique<data::UploadLoader>(std::move(dataset), std::move(pipeline), lc, device);
}

Config load_run_config(const std::string& run_dir, const std::vector<std::string>& overrides) {
  MN_CHECK(path_exists(run_dir + "/config.toml"), run_dir,
           " is not a run directory (no config.toml); runs are made by: mn train CONFIG");
  return load_config(run_dir + "/config.toml", overrides);
}

void check_point(const Config& c, double width, int64_t resolution) {
  const double lo = c.mutualnet.width_min, hi = c.mutualnet.width_max;
  MN_CHECK(width >= lo - 1e-9 && width <= hi + 1e-9, "width ", width, " is outside the run's trained range [", lo,
           ", ", hi, "]");
  const int64_t r0 = c.data.resolutions[0];
  MN_CHECK(resolution <= r0, "resolution ", resolution, " is larger than the run's largest resolution ", r0,
           " (evaluation downscales from R0)");
}

std::vector<int64_t> carried_resolutions(const Config& c, const std::vector<int64_t>& resolutions) {
  std::vector<int64_t> carried = resolutions;
  const int64_t r0 = c.data.resolutions[0];
  if (carried.empty() || carried[0] != r0) carried.insert(carried.begin(), r0);
  return carried;
}

std::vector<std::string> class_names(const Config& c) {
  switch (c.data.dataset) {
    case DatasetKind::fashion_mnist:
      return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    case DatasetKind::mnist: return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    case DatasetKind::cifar10:
      return {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
    case DatasetKind::cifar100:
      return {"apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
              "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
              "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
              "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
              "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
              "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
              "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
              "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
              "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
              "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm"};
    case DatasetKind::folder: break;
  }
  return data::folder_classes(c.data.root);
}

std::unique_ptr<data::Loader> image_loader(const Config& c, std::shared_ptr<const data::Dataset> images,
                                           const std::vector<int64_t>& resolutions) {
  data::LoaderConfig lc = loader_config(c, c.train.eval_batch_size, 0, false, carried_resolutions(c, resolutions));
  return std::make_unique<data::Loader>(std::move(images), eval_pipeline(c, true), lc);
}

std::vector<Tensor> images_on(const data::Batch& batch, Device device) {
  std::vector<Tensor> out;
  for (const Tensor& t : batch.images) out.push_back(t.to(device));
  return out;
}

}  // namespace mn
