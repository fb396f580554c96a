// Config -> experiment objects.
#include "mutualnet/experiment.h"

#include <algorithm>
#include <cmath>

#include "io/files.h"
#include "io/safetensors.h"
#include "tensor/backend.h"

namespace mn {

namespace {

// The first `limit` images of a dataset (data.train_limit / data.test_limit): small, fast runs.
class FirstImages : public data::Dataset {
 public:
  FirstImages(std::shared_ptr<const data::Dataset> base, int64_t limit)
      : base_(std::move(base)), size_(std::min(limit, base_->size())) {}
  int64_t size() const override { return size_; }
  int64_t label(int64_t i) const override { return base_->label(i); }
  int num_classes() const override { return base_->num_classes(); }
  int channels() const override { return base_->channels(); }
  int image_size() const override { return base_->image_size(); }
  data::RawSample load(int64_t i) const override {
    MN_CHECK(i >= 0 && i < size_, "dataset: index ", i, " out of range [0, ", size_, ")");
    return base_->load(i);
  }
  std::string describe() const override {
    return cat(base_->describe(), " (first ", size_, " images)");
  }

 private:
  std::shared_ptr<const data::Dataset> base_;
  int64_t size_;
};

std::vector<int> as_int(const std::vector<int64_t>& v) {
  return std::vector<int>(v.begin(), v.end());
}

data::Normalize normalize(const Config& c) { return {c.data.mean, c.data.std}; }

int workers(const Config& c) { return static_cast<int>(c.data.workers); }

}  // namespace

Device resolve_device(const Config& c) {
  if (c.device == "cpu") return Device::cpu();
  if (c.device == "cuda") {
    MN_CHECK(cuda_available(), "device = \"cuda\" but ",
             "no CUDA GPU is available (mn built without CUDA, or no device); use device = \"cpu\" "
             "or \"auto\"");
    return Device::cuda();
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

std::shared_ptr<const data::Dataset> open_dataset(const Config& c, data::Split split) {
  data::DatasetConfig dc;
  dc.kind = (c.data.dataset == "fashion_mnist" || c.data.dataset == "mnist") ? "idx" : c.data.dataset;
  dc.root = c.data.root;
  dc.split = split;
  dc.channels = static_cast<int>(c.model.in_channels);
  std::shared_ptr<const data::Dataset> ds = data::make_dataset(dc);
  MN_CHECK(ds->num_classes() <= c.model.num_classes, ds->describe(), " has ", ds->num_classes(),
           " classes but model.num_classes = ", c.model.num_classes);
  const int64_t limit = split == data::Split::train ? c.data.train_limit : c.data.test_limit;
  if (limit > 0 && limit < ds->size()) return std::make_shared<FirstImages>(ds, limit);
  return ds;
}

data::Pipeline train_pipeline(const Config& c) {
  const int r0 = static_cast<int>(c.data.resolutions[0]);
  const AugmentConfig& a = c.augment;
  std::vector<data::TransformSpec> t;
  if (a.crop == "pad_crop") {
    t.push_back(data::PadRandomCrop{r0, static_cast<int>(a.pad),
                                    a.pad_mode == "reflect" ? data::PadMode::reflect : data::PadMode::zero});
  } else if (a.crop == "random_resized_crop") {
    t.push_back(data::RandomResizedCrop{r0, a.scale[0], a.scale[1], a.ratio[0], a.ratio[1]});
  } else if (a.eval_resize > 0) {  // crop = "none" on images of varying size
    t.push_back(data::Resize{static_cast<int>(a.eval_resize)});
    t.push_back(data::CenterCrop{r0});
  }
  // The public ImageNet recipe's order: colour jitter, lighting, then the flip.
  if (a.color_jitter > 0) t.push_back(data::ColorJitter{a.color_jitter, a.color_jitter, a.color_jitter});
  if (a.lighting > 0) t.push_back(data::Lighting{a.lighting});
  if (a.flip) t.push_back(data::HorizontalFlip{});
  t.push_back(normalize(c));
  return data::Pipeline(std::move(t));
}

data::Pipeline eval_pipeline(const Config& c) {
  std::vector<data::TransformSpec> t;
  if (c.augment.eval_resize > 0) {
    t.push_back(data::Resize{static_cast<int>(c.augment.eval_resize)});
    t.push_back(data::CenterCrop{static_cast<int>(c.data.resolutions[0])});
  }
  t.push_back(normalize(c));
  return data::Pipeline(std::move(t));
}

std::unique_ptr<data::Loader> train_loader(const Config& c,
                                           std::shared_ptr<const data::Dataset> train_set) {
  data::LoaderConfig lc;
  lc.batch_size = c.train.batch_size;
  lc.workers = workers(c);
  lc.seed = static_cast<uint64_t>(c.seed);
  lc.shuffle = true;
  lc.drop_last = true;
  lc.on_bad_image = c.data.on_bad_image == "skip" ? data::OnBadImage::skip : data::OnBadImage::fail;
  lc.resolutions = as_int(c.data.resolutions);
  lc.antialias = c.data.antialias;
  return std::make_unique<data::Loader>(std::move(train_set), train_pipeline(c), lc);
}

std::unique_ptr<data::Loader> calibration_loader(const Config& c,
                                                 std::shared_ptr<const data::Dataset> train_set,
                                                 const std::vector<int64_t>& resolutions) {
  data::LoaderConfig lc;
  lc.batch_size = c.train.batch_size;
  lc.workers = workers(c);
  // Its own stream: the same calibration images for every evaluated point, whatever the epoch.
  lc.seed = static_cast<uint64_t>(c.seed) ^ 0xB1CA11B7A7E5ull;
  lc.shuffle = true;
  lc.drop_last = true;
  lc.on_bad_image = c.data.on_bad_image == "skip" ? data::OnBadImage::skip : data::OnBadImage::fail;
  lc.resolutions = as_int(resolutions);
  lc.antialias = c.data.antialias;
  lc.prefetch = 1;
  return std::make_unique<data::Loader>(std::move(train_set), train_pipeline(c), lc);
}

std::unique_ptr<data::Loader> eval_loader(const Config& c,
                                          std::shared_ptr<const data::Dataset> test_set,
                                          const std::vector<int64_t>& resolutions) {
  data::LoaderConfig lc;
  lc.batch_size = c.train.eval_batch_size;
  lc.workers = workers(c);
  lc.seed = static_cast<uint64_t>(c.seed);
  lc.shuffle = false;
  lc.drop_last = false;
  lc.on_bad_image = c.data.on_bad_image == "skip" ? data::OnBadImage::skip : data::OnBadImage::fail;
  lc.resolutions = as_int(resolutions);
  lc.antialias = c.data.antialias;
  return std::make_unique<data::Loader>(std::move(test_set), eval_pipeline(c), lc);
}

nn::Sgd make_optimizer(const Config& c, models::Model& model) {
  nn::SgdOptions o;
  o.lr = c.optim.lr;
  o.momentum = c.optim.momentum;
  o.nesterov = c.optim.nesterov;
  auto rule = c.optim.no_decay_bn_depthwise ? nn::DecayRule::conv_and_linear_weights : nn::DecayRule::all;
  return nn::Sgd(nn::weight_decay_groups(*model.net, c.optim.weight_decay, rule), o);
}

nn::LrSchedule lr_schedule(const Config& c, int64_t steps_per_epoch) {
  nn::LrSchedule s;
  s.kind = c.optim.schedule == "cosine" ? nn::LrSchedule::Kind::cosine
           : c.optim.schedule == "step" ? nn::LrSchedule::Kind::step
                                        : nn::LrSchedule::Kind::constant;
  s.base_lr = c.optim.lr;
  s.total_iters = c.train.epochs * steps_per_epoch;
  s.warmup_iters = std::min<int64_t>(
      s.total_iters, static_cast<int64_t>(std::llround(c.optim.warmup_epochs * steps_per_epoch)));
  for (int64_t e : c.optim.milestones) s.milestones.push_back(e * steps_per_epoch - s.warmup_iters);
  s.gamma = c.optim.gamma;
  return s;
}

Config load_run_config(const std::string& run_dir, const std::vector<std::string>& overrides) {
  MN_CHECK(path_exists(run_dir + "/config.toml"), run_dir,
           " is not a run directory (no config.toml); runs are made by: mn train CONFIG");
  return load_config(run_dir + "/config.toml", overrides);
}

models::Model load_run_model(const std::string& run_dir, const std::string& checkpoint,
                             const Config& c, Device device) {
  MN_CHECK(checkpoint == "last" || checkpoint == "best", "--checkpoint: expected last or best, got '",
           checkpoint, "'");
  const std::string path = run_dir + "/" + checkpoint + "/model.safetensors";
  MN_CHECK(path_exists(path), "no checkpoint at ", path, " (training writes one after every epoch)");
  models::Model model = models::make_model(model_spec(c));
  model.net->load_state_dict(load_safetensors(path).tensors);
  model.net->to(device);
  return model;
}

}  // namespace mn
