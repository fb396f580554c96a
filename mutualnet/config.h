// Experiment configs: one TOML file per experiment (configs/*.toml), every key validated when it
// is loaded. The typed struct below is what the trainer reads; config_fields() is the one list of
// keys, their ranges and meanings, used to parse, to validate, to print the resolved config and
// to compare a resumed run's config with the one it was started with.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "mutualnet/models/arch.h"
#include "nn/schedule.h"

namespace mn {

// The choices a config names by string; parsed once into these, with the names in config_fields().
enum class DevicePolicy { automatic, cpu, cuda };  // "auto": cuda when a GPU is present
// "auto": bf16 on CUDA devices that compute it (else tf32), fp32 on the CPU; otherwise that
// Precision (tensor/backend.h).
enum class PrecisionPolicy { automatic, fp32, tf32, bf16 };
// "auto": nhwc (channels-last) on CUDA, nchw on the CPU (MemoryFormat, tensor/tensor.h).
enum class MemoryFormatPolicy { automatic, nchw, nhwc };
enum class DatasetKind { fashion_mnist, mnist, cifar10, cifar100, folder };
enum class CropKind { pad_crop, random_resized_crop, none };
// Where training batches are finished: "on" on the device (data/device_loader.h: built there for
// in-memory datasets with crop/flip/normalize transforms, else downscaled there), "auto" the same
// on CUDA, "off" by the threaded CPU loader alone. The batches are the same bits every way.
enum class DeviceInput { automatic, on, off };
enum class LossKind { cross_entropy, kl };  // KL(softmax(teacher) || softmax(student))
const char* loss_name(LossKind k);

struct ModelConfig {
  models::Arch arch = models::Arch::wrn;
  int64_t depth = 16;        // WRN depth (6n + 4)
  int64_t widen = 2;         // WRN widen factor
  int64_t num_classes = 10;
  int64_t in_channels = 1;
  double dropout = 0;
  double base_width = 1.0;   // mn export: the width of the network this one was cut from
};

struct DataConfig {
  DatasetKind dataset = DatasetKind::fashion_mnist;
  std::string root = "/usr/share/datasets/fashion-mnist";
  std::vector<int64_t> resolutions = {28, 24, 20, 16};  // largest first: R0 and its downscales
  std::vector<double> mean = {0.2860};  // per channel, on [0, 1] pixel values
  std::vector<double> std = {0.3530};
  int64_t train_limit = 0;  // use only the first N training images (0 = all)
  int64_t test_limit = 0;   // evaluate on the first N test images (0 = all)
  int64_t workers = 0;      // loader threads (0 = one per core)
  bool antialias = false;   // antialiased downscales instead of plain bilinear
  data::OnBadImage on_bad_image = data::OnBadImage::fail;
  DeviceInput device_input = DeviceInput::automatic;
};

struct AugmentConfig {
  CropKind crop = CropKind::pad_crop;
  int64_t pad = 2;                // pad_crop: pixels added on each side before the random crop
  data::PadMode pad_mode = data::PadMode::reflect;
  std::vector<double> scale = {0.08, 1.0};     // random_resized_crop: area fraction range
  std::vector<double> ratio = {0.75, 4.0 / 3.0};  // random_resized_crop: aspect ratio range
  bool flip = true;                // random horizontal flip
  double color_jitter = 0;         // brightness = contrast = saturation strength
  double lighting = 0;             // PCA lighting noise std
  int64_t eval_resize = 0;         // evaluation: shorter side resized to this, then centre crop
};

struct MutualNetConfig {
  double width_min = 0.25;
  double width_max = 1.0;
  int64_t divisor = 4;            // make_divisible's channel divisor
  int64_t num_random_widths = 2;  // random widths between the min and max in each step
  bool distill = true;            // sub-networks learn from the widest's output (else labels)
  bool random_resolution = true;  // each sub-network draws a resolution (else all use R0)
  LossKind max_loss = LossKind::cross_entropy;  // loss of the widest network
  double label_smoothing = 0;     // for the widest network's cross-entropy
};

struct OptimConfig {
  double lr = 0.1;
  double momentum = 0.9;
  bool nesterov = true;
  double weight_decay = 5e-4;
  bool no_decay_bn_depthwise = false;  // no weight decay on BN and depthwise convs (ImageNet)
  nn::LrSchedule::Kind schedule = nn::LrSchedule::Kind::cosine;  // stepped per iteration
  double warmup_epochs = 0;            // linear warm-up from 0 to lr
  std::vector<int64_t> milestones = {};  // step schedule: epochs at which lr *= gamma
  double gamma = 0.1;
};

struct TrainConfig {
  int64_t epochs = 3;
  int64_t batch_size = 128;
  int64_t log_every = 50;         // steps between metrics lines
  int64_t checkpoint_every = 1000;  // steps between mid-epoch checkpoints of last/ (0 = epoch ends only)
  int64_t bn_calib_batches = 8;   // training batches that recalibrate BN before an evaluation
  int64_t eval_batch_size = 500;
  bool validate = true;           // BN-recalibrated validation after every epoch
  bool sync_bn = true;            // several processes: BN statistics over the global batch
  double grad_bucket_mb = 4;      // several processes: gradient all-reduce bucket size
};

struct SweepConfig {
  std::vector<double> widths = {1.0, 0.75, 0.5, 0.25};
  std::vector<int64_t> resolutions = {};  // empty: data.resolutions
};

struct Config {
  std::string name;             // run directory runs/<name>; default: the config file's stem
  DevicePolicy device = DevicePolicy::automatic;
  PrecisionPolicy precision = PrecisionPolicy::automatic;
  MemoryFormatPolicy memory_format = MemoryFormatPolicy::automatic;
  int64_t seed = 1995;
  ModelConfig model;
  DataConfig data;
  AugmentConfig augment;
  MutualNetConfig mutualnet;
  OptimConfig optim;
  TrainConfig train;
  SweepConfig sweep;
};

// An enum-valued key: reads and writes the enum as an index into ConfigField::choices.
struct ChoiceTarget {
  std::function<size_t()> get;
  std::function<void(size_t)> set;
};

// One key of the schema: where its value lives, what it may be, what it means.
struct ConfigField {
  std::string key;  // dotted: "train.epochs"
  std::variant<int64_t*, double*, bool*, std::string*, ChoiceTarget, std::vector<int64_t>*,
               std::vector<double>*>
      target;
  double lo = -std::numeric_limits<double>::infinity();  // numbers (list elements too)
  double hi = std::numeric_limits<double>::infinity();
  std::vector<std::string> choices;  // choice keys: the names, in the order ChoiceTarget indexes
  size_t min_items = 0, max_items = 64;  // lists
  bool affects_results = true;  // false: may change between a run and its resume
  std::string help;
};
std::vector<ConfigField> config_fields(Config& c);

// Parses TOML text (source = file name for messages) then applies `--set key=value` overrides.
// Throws mn::Error: unknown key -> file:line and the nearest valid key; wrong type or range ->
// key, value and what is allowed.
Config parse_config(const std::string& text, const std::string& source,
                    const std::vector<std::string>& overrides = {});
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// The resolved config as TOML, every key present, with its meaning as a comment.
std::string config_to_toml(const Config& c);
// Hash of the keys that affect results (hex); stored with checkpoints.
std::string config_hash(const Config& c);
// "key: a -> b" for every key that affects results and differs.
std::vector<std::string> config_diff(const Config& from, const Config& to);
// The value of one key as TOML text ("0.1", "[28, 24]", "\"wrn\"").
std::string config_value(const Config& c, const std::string& key);

}  // namespace mn
