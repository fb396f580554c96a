// The training batches of an in-memory dataset (IDX, CIFAR) built on a device, bit for bit the
// batches data::Loader builds on the CPU. The dataset is uploaded once as uint8; for each batch
// the host draws every sample's crop window and flip with the generator calls the Loader's
// workers make (Pipeline::draw_gather, seeded by sample_seed), and the device gathers, pads,
// crops, flips and normalizes in one kernel (ops::crop_batch), then downscales to every
// resolution with the Loader's filter (ops::resample_taps). Nothing waits for the device: the
// batch is queued work on it.
//
//   if (data::DeviceLoader::unsupported(*ds, pipeline).empty())
//     loader = std::make_unique<data::DeviceLoader>(ds, pipeline, config, Device::cuda());
//   else
//     loader = std::make_unique<data::UploadLoader>(ds, pipeline, config, Device::cuda());
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/loader.h"

namespace mn::data {

// The downscales of R0 batches to every other resolution of a plan, on a device, with the CPU
// loader's taps (PlaneResizer) and order of operations (ops::resample_taps).
class DeviceDownscales {
 public:
  DeviceDownscales(const EpochPlan& plan, Device device);
  // top: (B, C, R0, R0) on the device; returns it and its downscales, largest first.
  std::vector<Tensor> operator()(const Tensor& top) const;

 private:
  struct Taps {
    Tensor rows_first, rows_weights, cols_first, cols_weights;
  };
  std::vector<Taps> taps_;  // R0 -> resolutions[k], k >= 1
};


class DeviceLoader final : public BatchSource {
 public:
  // Why batches of this dataset and pipeline cannot be built on a device ("" when they can).
  static std::string unsupported(const Dataset& dataset, const Pipeline& pipeline);

  // Uploads the dataset to `device` (the CPU works too, as a reference); config.workers,
  // prefetch and on_bad_image do not apply (no worker threads, no files to go bad).
  DeviceLoader(std::shared_ptr<const Dataset> dataset, Pipeline pipeline, LoaderConfig config, Device device);

  int64_t batches_per_epoch() const override { return plan_.batches_per_epoch(); }
  void start_epoch(int64_t epoch, int64_t first_batch = 0) override;
  std::optional<Batch> next() override;
  EpochReport report() const override { return report_; }
  std::string describe() const override;

 private:
  std::shared_ptr<const Dataset> dataset_;
  Pipeline pipeline_;
  LoaderConfig config_;
  EpochPlan plan_;
  Device device_;
  std::string name_;             // the dataset's, for the crop's errors
  Tensor images_;                // u8 (N, H, W, C) on device_
  std::vector<int64_t> labels_;  // (N), on the host: a batch's are gathered there
  Tensor table_;                 // f32 (C, 256) on device_: what each byte becomes
  DeviceDownscales downscales_;
  std::vector<int64_t> order_;
  int64_t epoch_ = 0, batch_ = 0;
  bool started_ = false;
  EpochReport report_;
};

// The batches of any dataset and transforms (image folders, random resized crops, colour jitter)
// built by the threaded CPU Loader at R0 only, copied to the device and downscaled there: the
// Loader's batches bit for bit, the workers spared the downscales and the copy a fraction of the
// bytes. The copy leaves the Loader's pinned buffer on the copy stream (to_device_async); the
// training step ends by reading its losses back, so a copy started in next() would wait for
// nothing, but one started from prefetch(), while the step's kernels are queued, runs beside them.
class UploadLoader final : public BatchSource {
 public:
  UploadLoader(std::shared_ptr<const Dataset> dataset, Pipeline pipeline, LoaderConfig config, Device device);

  int64_t batches_per_epoch() const override { return loader_.batches_per_epoch(); }
  void start_epoch(int64_t epoch, int64_t first_batch = 0) override;
  std::optional<Batch> next() override;
  void prefetch() override;
  EpochReport report() const override { return loader_.report(); }
  std::string describe() const override;

 private:
  EpochPlan plan_;  // every resolution
  Device device_;
  Loader loader_;   // R0 only
  DeviceDownscales downscales_;
  // The batch prefetch() queued, when it did (nullopt inside: the epoch had ended).
  std::optional<std::optional<Batch>> ahead_;
};

}  // namespace mn::data
