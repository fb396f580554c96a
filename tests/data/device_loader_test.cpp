// DeviceLoader on the CPU backend against the threaded Loader: the same batches bit for bit
// (images at every resolution, labels, indices) for CIFAR-shaped RGB and IDX-shaped gray data,
// reflect and zero padding, plain and antialiased downscales, shards, and resumes mid-epoch; the
// pipelines and datasets it cannot build are named. UploadLoader (any transforms, downscaled
// after the copy) against the Loader too. tests/cuda/crop_batch_test.cpp runs it on a GPU.
#include <doctest/doctest.h>

#include "data/device_loader.h"
#include "tests/common/test_util.h"
#include "tests/data/helpers.h"

using namespace mn;
using Pad = mn::data::PadMode;  // not mn::PadMode, the tensor op's
using namespace mn::data;
using namespace mn::data::testing;

namespace {

// Both loaders over two epochs of the same dataset, pipeline and config.
void check_equal_loaders(std::shared_ptr<const Dataset> ds, const Pipeline& p, const LoaderConfig& cfg) {
  Loader cpu(ds, p, cfg);
  DeviceLoader dev(ds, p, cfg, Device::cpu());
  CHECK(dev.batches_per_epoch() == cpu.batches_per_epoch());
  for (int64_t e : {0, 3}) check_same(epoch(dev, e), epoch(cpu, e));
  const EpochReport r = dev.report(), want = cpu.report();
  CHECK(r.epoch == want.epoch);
  CHECK(r.batches == want.batches);
  CHECK(r.images == want.images);
}

Pipeline cifar_train(Pad mode) {
  return Pipeline({PadRandomCrop{32, 4, mode}, HorizontalFlip{}, Normalize{{0.5071, 0.4865, 0.4409}, {0.2673, 0.2564, 0.2762}}});
}

}  // namespace

TEST_CASE("device loader on the CPU: CIFAR-shaped batches equal the Loader's bit for bit") {
  auto ds = synthetic_dataset(70, 32, 3, 100, 11);
  for (Pad mode : {Pad::reflect, Pad::zero})
    for (bool antialias : {false, true}) {
      CAPTURE(int(mode));
      CAPTURE(antialias);
      check_equal_loaders(ds, cifar_train(mode),
                          {.batch_size = 16, .workers = 2, .seed = 1995, .resolutions = {32, 28, 24, 20},
                           .antialias = antialias});
    }
}

TEST_CASE("device loader on the CPU: IDX-shaped gray batches, the last one short, equal the Loader's") {
  auto ds = synthetic_dataset(45, 28, 1, 10, 5);
  for (Pad mode : {Pad::reflect, Pad::zero}) {
    CAPTURE(int(mode));
    check_equal_loaders(ds, Pipeline({PadRandomCrop{28, 2, mode}, HorizontalFlip{}, Normalize{{0.286}, {0.353}}}),
                        {.batch_size = 16, .workers = 2, .seed = 7, .drop_last = false, .resolutions = {28, 24, 20, 16}});
  }
  // No crop, no normalize: ToTensor alone; flips before and after a smaller crop (a mirrored
  // window); no padding, a flip of the normalized floats, and evaluation order.
  const LoaderConfig plain{.batch_size = 8, .workers = 1, .seed = 3, .resolutions = {28, 14}};
  check_equal_loaders(ds, Pipeline(), plain);
  check_equal_loaders(ds, Pipeline({HorizontalFlip{0.5}, PadRandomCrop{24, 3, Pad::reflect}, HorizontalFlip{0.3}}),
                      {.batch_size = 8, .workers = 1, .seed = 3, .resolutions = {24, 17}});
  check_equal_loaders(ds, Pipeline({PadRandomCrop{20, 0, Pad::zero}, Normalize{{0.5}, {0.25}}, HorizontalFlip{}}),
                      {.batch_size = 8, .workers = 1, .seed = 3, .shuffle = false, .resolutions = {20}});
}

TEST_CASE("device loader on the CPU: shards equal the Loader's shards, and resume at batch k") {
  auto ds = synthetic_dataset(50, 32, 3, 100, 2);
  LoaderConfig cfg{.batch_size = 8, .workers = 2, .seed = 7, .drop_last = false, .resolutions = {32, 20}};
  for (int s = 0; s < 3; ++s) {
    CAPTURE(s);
    cfg.shard = s, cfg.shards = 3;
    Loader cpu(ds, cifar_train(Pad::reflect), cfg);
    DeviceLoader dev(ds, cifar_train(Pad::reflect), cfg, Device::cpu());
    const std::vector<Batch> whole = epoch(cpu, 2);
    check_same(epoch(dev, 2), whole);
    // Resuming mid-epoch gives the rest of the epoch, also after a full one.
    check_same(epoch(dev, 2, 4), std::vector<Batch>(whole.begin() + 4, whole.end()));
    CHECK(epoch(dev, 2, dev.batches_per_epoch()).empty());
  }
}

TEST_CASE("device loader: what it cannot build is named") {
  auto ds = synthetic_dataset(16, 12, 3, 4, 1);
  CHECK(DeviceLoader::unsupported(*ds, cifar_train(Pad::reflect)) == "");
  CHECK(DeviceLoader::unsupported(*ds, Pipeline({ColorJitter{0.4, 0.4, 0.4}})) ==
        "the transform color_jitter(brightness=0.4, contrast=0.4, saturation=0.4) is not a crop, flip or normalize");
  CHECK(DeviceLoader::unsupported(*ds, Pipeline({PadRandomCrop{12, 1}, PadRandomCrop{10, 0}})) ==
        "the transform more than one pad_random_crop");
  CHECK(DeviceLoader::unsupported(*ds, Pipeline({Normalize{{0, 0, 0}, {1, 1, 1}}, Normalize{{0, 0, 0}, {1, 1, 1}}})) ==
        "the transform more than one normalize");
  CHECK_THROWS_WITH_AS(DeviceLoader(ds, Pipeline({CenterCrop{8}}), {.batch_size = 4}, Device::cpu()),
                       "device loader: cannot build batches on cpu: the transform center_crop(8) is not a crop, flip or "
                       "normalize",
                       Error);
  // The crop's checks come at construction, with the dataset's name.
  CHECK_THROWS_WITH_AS(
      DeviceLoader(ds, Pipeline({PadRandomCrop{12, 12, Pad::reflect}}), {.batch_size = 4}, Device::cpu()),
      "pad_random_crop: reflect padding 12 needs an image larger than that, synthetic (seed 1): 16 images of 3x12x12, "
      "4 classes is 12x12",
      Error);
}

TEST_CASE("upload loader on the CPU: R0 from the Loader, downscaled by the op, equals the Loader's batches") {
  auto ds = synthetic_dataset(40, 32, 3, 10, 4);
  const Pipeline p({RandomResizedCrop{24, 0.25, 1.0}, ColorJitter{0.4, 0.4, 0.4}, HorizontalFlip{},
                    Normalize{{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}});
  for (bool antialias : {false, true}) {
    CAPTURE(antialias);
    LoaderConfig cfg{.batch_size = 8, .workers = 2, .seed = 9, .drop_last = false, .resolutions = {24, 20, 12},
                     .antialias = antialias, .shard = 1, .shards = 2};
    Loader cpu(ds, p, cfg);
    UploadLoader up(ds, p, cfg, Device::cpu());
    CHECK(up.batches_per_epoch() == cpu.batches_per_epoch());
    check_same(epoch(up, 1), epoch(cpu, 1));
    check_same(epoch(up, 2, 3), epoch(cpu, 2, 3));
    CHECK(up.report().images == cpu.report().images);
  }
}

TEST_CASE("upload loader: a batch prefetched during a step is the one next() returns; a restart drops it") {
  auto ds = synthetic_dataset(40, 32, 3, 10, 4);
  const Pipeline p({RandomResizedCrop{24, 0.25, 1.0}, HorizontalFlip{}, Normalize{{0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}}});
  const LoaderConfig cfg{.batch_size = 8, .workers = 2, .seed = 3, .drop_last = false, .resolutions = {24, 16}};
  Loader cpu(ds, p, cfg);
  UploadLoader up(ds, p, cfg, Device::cpu());
  auto prefetched_epoch = [&](int64_t e, int64_t first) {
    up.start_epoch(e, first);
    std::vector<Batch> out;
    while (auto b = up.next()) {
      out.push_back(std::move(*b));
      up.prefetch();
      up.prefetch();  // a second call before next() starts nothing more
    }
    return out;
  };
  check_same(prefetched_epoch(1, 0), epoch(cpu, 1));
  CHECK(up.report().images == 40);
  // Interrupted after prefetching batch 2 of epoch 2, resumed at batch 2: the batch comes again.
  up.start_epoch(2);
  up.next();
  up.next();
  up.prefetch();
  check_same(prefetched_epoch(2, 2), epoch(cpu, 2, 2));
}
