// DeviceLoader and UploadLoader: the epoch plan and the sample seeds are the Loader's (EpochPlan,
// sample_seed), the per-sample draws are Pipeline::draw_gather, the filter taps are PlaneResizer's;
// what is left here is moving them to the device and calling the two ops.
#include "data/device_loader.h"

#include <cstring>

#include "tensor/crop_batch.h"
#include "tensor/resample_taps.h"

namespace mn::data {
namespace {

Tensor axis_first(const ResampleAxis& a, Device device) {
  return Tensor::from_vector(std::vector<int64_t>(a.first.begin(), a.first.end()), {a.out_size}).to(device);
}

Tensor axis_weights(const ResampleAxis& a, Device device) {
  return Tensor::from_vector(a.weights, {a.out_size, a.taps}).to(device);
}

LoaderConfig largest_only(LoaderConfig c) {
  c.all_resolutions = false;
  return c;
}

}  // namespace

DeviceDownscales::DeviceDownscales(const EpochPlan& plan, Device device) {
  for (const PlaneResizer& r : plan.resizers())
    taps_.push_back({axis_first(r.rows(), device), axis_weights(r.rows(), device), axis_first(r.cols(), device),
                     axis_weights(r.cols(), device)});
}

std::vector<Tensor> DeviceDownscales::operator()(const Tensor& top) const {
  std::vector<Tensor> images{top};
  for (const Taps& t : taps_)
    images.push_back(ops::resample_taps(top, t.rows_first, t.rows_weights, t.cols_first, t.cols_weights));
  return images;
}

std::string DeviceLoader::unsupported(const Dataset& dataset, const Pipeline& pipeline) {
  if (dataset.image_size() <= 0 || dataset.size() == 0 || dataset.load(0).is_encoded())
    return cat(dataset.describe(), " is not held in memory (image files are decoded by the CPU loader)");
  const std::string why = pipeline.gather_unsupported();
  return why.empty() ? why : cat("the transform ", why);
}

DeviceLoader::DeviceLoader(std::shared_ptr<const Dataset> dataset, Pipeline pipeline, LoaderConfig config,
                           Device device)
    : dataset_(std::move(dataset)),
      pipeline_(std::move(pipeline)),
      config_(std::move(config)),
      plan_(dataset_, pipeline_, config_),
      device_(device),
      downscales_(plan_, device) {
  const std::string why = unsupported(*dataset_, pipeline_);
  MN_CHECK(why.empty(), "device loader: cannot build batches on ", device.str(), ": ", why);
  const int64_t n = dataset_->size(), side = dataset_->image_size(), channels = plan_.channels();
  // The padding and crop are checked once here, where the Loader checks them per sample.
  name_ = dataset_->describe();
  Generator probe(0);
  pipeline_.draw_gather(int(side), probe, name_);

  Tensor images = Tensor::empty({n, side, side, channels}, DType::u8);
  const size_t bytes = size_t(side * side * channels);
  labels_.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    const RawSample s = dataset_->load(i);
    MN_CHECK(s.image.pixels.size() == bytes, s.name, ": ", s.image.height, "x", s.image.width, "x",
             s.image.channels, " image in a dataset of ", side, "x", side, "x", channels);
    std::memcpy(images.data<uint8_t>() + i * int64_t(bytes), s.image.pixels.data(), bytes);
    labels_[size_t(i)] = dataset_->label(i);
  }
  images_ = images.to(device_);
  table_ = Tensor::from_vector(pipeline_.gather_table(int(channels)), {channels, 256}).to(device_);
}

std::string DeviceLoader::describe() const {
  return plan_.describe(*dataset_, pipeline_, cat("built on ", device_.str()));
}

void DeviceLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  order_ = plan_.order(epoch, first_batch);
  epoch_ = epoch;
  batch_ = first_batch;
  report_ = EpochReport{};
  report_.epoch = epoch;
  started_ = true;
}

std::optional<Batch> DeviceLoader::next() {
  MN_CHECK(started_, "loader: call start_epoch before next");
  if (batch_ >= batches_per_epoch()) return std::nullopt;
  const int64_t begin = plan_.shard_bound(batch_, config_.shard), end = plan_.shard_bound(batch_, config_.shard + 1);
  // A shard is empty from here on when the last, short batch has fewer images than there are shards.
  if (begin == end) return std::nullopt;
  const int64_t n = end - begin, side = dataset_->image_size();
  // Pinned, so that the two small copies below do not wait for the device's queued work.
  Tensor params = Tensor::empty_pinned({n, 4}, DType::i64), labels = Tensor::empty_pinned({n}, DType::i64);
  Batch batch;
  batch.epoch = epoch_;
  batch.index = batch_;
  batch.resolutions = plan_.resolutions();
  for (int64_t row = 0; row < n; ++row) {
    const int64_t index = order_[size_t(begin + row)];
    Generator rng(sample_seed(config_.seed, epoch_, index));
    const Gather g = pipeline_.draw_gather(int(side), rng, name_);
    int64_t* p = params.data<int64_t>() + 4 * row;
    p[0] = index, p[1] = g.top, p[2] = g.left, p[3] = g.mirror;
    labels.data<int64_t>()[row] = labels_[size_t(index)];
    batch.indices.push_back(index);
  }
  const Tensor top = ops::crop_batch(images_, to_device_async(params, device_), table_, plan_.size(),
                                     pipeline_.gather_pad_mode() == data::PadMode::reflect ? mn::PadMode::reflect
                                                                                          : mn::PadMode::zero);
  batch.images = downscales_(top);
  batch.labels = to_device_async(labels, device_);
  ++batch_;
  ++report_.batches;
  report_.images += n;
  return batch;
}

UploadLoader::UploadLoader(std::shared_ptr<const Dataset> dataset, Pipeline pipeline, LoaderConfig config,
                           Device device)
    : plan_(dataset, pipeline, config),
      device_(device),
      loader_(std::move(dataset), std::move(pipeline), largest_only(config)),
      downscales_(plan_, device) {}

void UploadLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  ahead_.reset();
  loader_.start_epoch(epoch, first_batch);
}

void UploadLoader::prefetch() {
  if (ahead_) return;
  std::optional<Batch> batch = loader_.next();
  if (batch) {
    // The Loader reuses the pinned buffers only once these copies have finished (copy_in_flight).
    batch->images = downscales_(to_device_async(batch->images[0], device_));
    batch->resolutions = plan_.resolutions();
    batch->labels = to_device_async(batch->labels, device_);
  }
  ahead_ = std::move(batch);
}

std::optional<Batch> UploadLoader::next() {
  prefetch();  // nothing queued it during the last step (the first batch, or no caller of prefetch)
  std::optional<Batch> batch = std::move(*ahead_);
  ahead_.reset();
  return batch;
}

std::string UploadLoader::describe() const { return cat(loader_.describe(), "; downscaled on ", device_.str()); }

}  // namespace mn::data
