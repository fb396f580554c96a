// The threaded loader: worker threads turn dataset samples into multi-scale batches ahead of the
// trainer, in a fixed order that depends only on (seed, epoch), never on the number of threads.
//
//   auto ds = data::make_dataset({.format = Format::cifar100, .root = "data/cifar100", .split = Split::train});
//   data::Loader loader(ds, data::Pipeline({PadRandomCrop{32, 4}, HorizontalFlip{}, Normalize{...}}),
//                       {.batch_size = 128, .seed = 1995, .resolutions = {32, 28, 24, 20}});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);            // or start_epoch(epoch, batch) to resume mid-epoch
//     while (auto batch = loader.next()) train_step(batch->images, batch->labels);
//     report(loader.report());              // bad images skipped this epoch
//   }
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/resample.h"
#include "data/transforms.h"
#include "tensor/tensor.h"

namespace mn::data {

enum class OnBadImage { fail, skip };

struct LoaderConfig {
  int64_t batch_size = 128;
  int workers = 0;  // 0: one per core
  uint64_t seed = 0;
  bool shuffle = true;     // false: dataset order (evaluation)
  bool drop_last = true;   // false: the last batch may be smaller
  OnBadImage on_bad_image = OnBadImage::fail;
  // Largest first; resolutions[0] is the pipeline's output size. Empty: that size only.
  std::vector<int> resolutions = {};
  bool all_resolutions = true;  // false: only the largest (`mn bench data` times decoding alone)
  bool antialias = false;       // downscale with a widened filter instead of plain bilinear
  int prefetch = 2;             // batches built ahead of the consumer (each is batch memory)
  // Data parallel: this process loads part `shard` of `shards` of every batch, rows
  // [n * shard / shards, n * (shard + 1) / shards) of a batch of n, so the shards of batch b
  // together are the one-process batch b; epochs, batch indices and seeds stay the same.
  int shard = 0, shards = 1;
};

struct Batch {
  int64_t epoch = 0, index = 0;   // index: position in the epoch, 0-based
  std::vector<int> resolutions = {};   // of `images`, largest first
  std::vector<Tensor> images;     // per resolution: float32 (N, C, R, R)
  Tensor labels;                  // int64 (N)
  std::vector<int64_t> indices;   // dataset index of each row
  int64_t skipped = 0;            // bad images left out (on_bad_image = skip): N < batch size
  int64_t size() const { return labels.size(0); }
  const Tensor& at_resolution(int r) const;
};

struct EpochReport {
  int64_t epoch = 0, batches = 0, images = 0, skipped = 0;  // batches and images returned
  std::vector<std::string> skipped_files;  // the first few, with the reason
};

// Seeds derived from the run's seed: the epoch's shuffle and each sample's transforms.
uint64_t epoch_seed(uint64_t seed, int64_t epoch);
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index);

// What every loader of `dataset` shares: the epochs' orders, batches and shards, and the batch
// shape; the constructor checks the config against the dataset and the pipeline.
class EpochPlan {
 public:
  EpochPlan(const std::shared_ptr<const Dataset>& dataset, const Pipeline& pipeline, const LoaderConfig& config);
  int64_t batches_per_epoch() const;
  // "<dataset>; 390 batches of 128, <how>, resolutions 32,28; transforms: <pipeline>".
  std::string describe(const Dataset& dataset, const Pipeline& pipeline, const std::string& how) const;
  // Dataset indices in the order epoch `epoch` visits them; first_batch is where it starts (checked).
  std::vector<int64_t> order(int64_t epoch, int64_t first_batch = 0) const;
  // Where part `part` of the config's shards of batch b begins in the epoch's order (part = shards:
  // where the batch ends); this shard's positions are [shard_bound(b, shard), shard_bound(b, shard + 1)).
  int64_t shard_bound(int64_t b, int64_t part) const;
  int channels() const { return channels_; }
  int size() const { return size_; }  // of the pipeline's output: resolutions()[0]
  const std::vector<int>& resolutions() const { return resolutions_; }  // of the batches
  // size() -> resolutions()[k], k >= 1: the downscales.
  std::vector<PlaneResizer> resizers() const;

 private:
  int64_t dataset_size_;
  LoaderConfig config_;
  int channels_ = 0, size_ = 0;
  std::vector<int> resolutions_;
};

// What the trainer draws batches from: the threaded Loader, or a DeviceLoader
// (data/device_loader.h) building the same batches on a device.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t batches_per_epoch() const = 0;
  // Begins (or restarts) an epoch at batch `first_batch` (exact resume); abandons any epoch in
  // progress. Batches are then returned by next() in order.
  virtual void start_epoch(int64_t epoch, int64_t first_batch = 0) = 0;
  // The next batch of the epoch, or nullopt at its end.
  virtual std::optional<Batch> next() = 0;
  // Starts on the batch after the one next() returned last, for a device to receive it while it
  // computes: called once a training step's work is queued, before its results are read back.
  // Optional; only a source that copies batches to a device has something to start.
  virtual void prefetch() {}
  // The current epoch so far (the batches next() has returned).
  virtual EpochReport report() const = 0;
  virtual std::string describe() const = 0;
};

class Loader final : public BatchSource {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, Pipeline pipeline, LoaderConfig config);
  ~Loader() override;
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t batches_per_epoch() const override { return plan_.batches_per_epoch(); }
  int image_size() const { return plan_.size(); }  // resolutions()[0]
  int channels() const { return plan_.channels(); }
  const std::vector<int>& resolutions() const { return plan_.resolutions(); }
  const Dataset& dataset() const { return *dataset_; }
  const LoaderConfig& config() const { return config_; }
  std::string describe() const override;

  // Dataset indices in the order epoch `epoch` visits them.
  std::vector<int64_t> epoch_order(int64_t epoch) const { return plan_.order(epoch); }

  void start_epoch(int64_t epoch, int64_t first_batch = 0) override;
  // Also rethrows a worker's error (a bad image with on_bad_image = fail, a missing file, ...),
  // which ends the epoch.
  std::optional<Batch> next() override;
  EpochReport report() const override;

 private:
  // Batch memory: images per resolution and labels, reused once the consumer drops them.
  struct Buffers {
    std::vector<Tensor> images;
    Tensor labels;
    bool free() const;
  };
  struct Slot {
    int64_t batch = -1;
    int remaining = 0;
    bool ready = false;
    std::vector<Tensor> images;  // views of one Buffers entry
    Tensor labels;
    std::vector<int64_t> indices;
    std::vector<std::string> bad;        // per row: why it was skipped ("" if fine)
    std::vector<std::exception_ptr> errors;  // per row
  };

  void worker();
  void stop_workers();
  void open_slot(Slot& slot, int64_t batch);
  void build_sample(Slot& slot, int64_t row, int64_t index, int64_t epoch);
  Batch take(Slot& slot);
  // This shard's positions of batch b in the epoch's order: [batch_begin(b), batch_end(b)).
  int64_t batch_begin(int64_t b) const { return plan_.shard_bound(b, config_.shard); }
  int64_t batch_end(int64_t b) const { return plan_.shard_bound(b, config_.shard + 1); }
  int64_t shard_pos(int64_t pos) const;  // this shard's first position at or after pos

  std::shared_ptr<const Dataset> dataset_;
  Pipeline pipeline_;
  LoaderConfig config_;
  EpochPlan plan_;
  std::vector<PlaneResizer> resizers_;  // plan_.resizers()

  mutable std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  std::vector<std::thread> threads_;
  std::vector<Slot> slots_;
  std::vector<Buffers> pool_;
  std::vector<int64_t> order_;
  int64_t epoch_ = 0;
  int64_t next_pos_ = 0, end_pos_ = 0;           // samples handed to workers: [next_pos_, end_pos_)
  int64_t consumer_batch_ = 0, end_batch_ = 0;   // batches for next(): [consumer_batch_, end_batch_)
  int in_flight_ = 0;
  std::exception_ptr fatal_;  // a worker failed outside any sample (allocating batch memory)
  bool started_ = false, stop_ = false;
  EpochReport report_;
};

}  // namespace mn::data
