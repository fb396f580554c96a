// The loader: same seed -> same batches for any thread count, exact resume mid-epoch, shuffles
// that are permutations, shards of every batch for data-parallel ranks, multi-scale batches equal to per-image downscales, drop_last, bad images
// skipped with a report or failing with the file's name, and the three dataset kinds end to end.
#include <doctest/doctest.h>

#include <filesystem>
#include <set>

#include "data/loader.h"
#include "tests/common/test_util.h"
#include "tests/data/helpers.h"

using namespace mn;
using namespace mn::data;
using namespace mn::data::testing;
namespace fs = std::filesystem;

namespace {

// n RGB images of 12x12 whose pixels encode the index, labels index % 7.
class Synthetic : public Dataset {
 public:
  explicit Synthetic(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  int64_t label(int64_t i) const override { return i % 7; }
  int num_classes() const override { return 7; }
  int channels() const override { return 3; }
  int image_size() const override { return 12; }
  RawSample load(int64_t i) const override {
    RawSample s;
    s.name = cat("synthetic[", i, "]");
    s.image = ImageU8(12, 12, 3);
    for (size_t k = 0; k < s.image.pixels.size(); ++k) s.image.pixels[k] = uint8_t((i * 31 + k * 7) % 256);
    return s;
  }
  std::string describe() const override { return "synthetic"; }
  uint32_t content_crc32(int64_t count) const override { return uint32_t(count); }  // pixels follow the index

 private:
  int64_t n_;
};

Pipeline augment() {
  return Pipeline({PadRandomCrop{12, 2, data::PadMode::reflect}, HorizontalFlip{}, ColorJitter{0.4, 0.4, 0.4},
                   Normalize{{0.5, 0.4, 0.3}, {0.2, 0.25, 0.3}}});
}

}  // namespace

TEST_CASE("same seed, same batches, whatever the number of workers") {
  auto ds = std::make_shared<Synthetic>(50);
  LoaderConfig cfg{.batch_size = 8, .seed = 1995, .drop_last = false, .resolutions = {12, 10, 7}};
  cfg.workers = 1;
  Loader one(ds, augment(), cfg);
  cfg.workers = 3;
  cfg.prefetch = 3;
  Loader three(ds, augment(), cfg);
  for (int64_t e = 0; e < 2; ++e) {
    // Every batch of the epoch is held while later ones are built: slots must not reuse its memory.
    const std::vector<Batch> a = epoch(one, e), b = epoch(three, e);
    REQUIRE(a.size() == 7);
    CHECK(a.back().size() == 2);
    check_same(a, b);
  }
  // A different seed changes the order and the augmentation.
  cfg.seed = 1996;
  Loader other(ds, augment(), cfg);
  CHECK(epoch(other, 0)[0].indices != epoch(one, 0)[0].indices);
}

TEST_CASE("epochs visit a fresh permutation; shuffle = false keeps dataset order") {
  auto ds = std::make_shared<Synthetic>(30);
  Loader loader(ds, Pipeline(), {.batch_size = 10, .workers = 2, .seed = 3});
  std::vector<std::vector<int64_t>> orders;
  for (int64_t e = 0; e < 3; ++e) {
    std::vector<int64_t> seen;
    for (const Batch& b : epoch(loader, e)) seen.insert(seen.end(), b.indices.begin(), b.indices.end());
    CHECK(seen == loader.epoch_order(e));
    CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 30);
    orders.push_back(seen);
  }
  CHECK(orders[0] != orders[1]);
  CHECK(orders[1] != orders[2]);

  Loader ordered(ds, Pipeline(), {.batch_size = 10, .workers = 2, .shuffle = false});
  const std::vector<Batch> batches = epoch(ordered, 5);
  CHECK(batches[1].indices == std::vector<int64_t>{10, 11, 12, 13, 14, 15, 16, 17, 18, 19});
  CHECK(batches[1].labels.to_vector<int64_t>() == std::vector<int64_t>{3, 4, 5, 6, 0, 1, 2, 3, 4, 5});
  // Without transforms the image is the pixels / 255 in (C, H, W).
  const std::vector<float> img = batches[0].images[0].slice(0, 1, 2).to_vector<float>();
  const RawSample raw = ds->load(1);
  CHECK(img[0] == raw.image.pixels[0] / 255.0f);
  CHECK(img[144 + 1] == raw.image.pixels[3 + 1] / 255.0f);  // channel 1 of pixel (0, 1)
}

TEST_CASE("starting an epoch at batch k resumes exactly") {
  auto ds = std::make_shared<Synthetic>(45);
  Loader loader(ds, augment(), {.batch_size = 6, .workers = 2, .seed = 11, .resolutions = {12, 8}});
  const std::vector<Batch> full = epoch(loader, 4);
  REQUIRE(full.size() == 7);  // drop_last: 45 / 6
  const std::vector<Batch> tail = epoch(loader, 4, 5);
  check_same(tail, std::vector<Batch>(full.begin() + 5, full.end()));
  CHECK(epoch(loader, 4, 7).empty());
  // Abandoning an epoch halfway and starting another is fine.
  loader.start_epoch(1);
  CHECK(loader.next()->index == 0);
  check_same(epoch(loader, 4, 6), std::vector<Batch>(full.begin() + 6, full.end()));
  CHECK_THROWS_WITH_AS(loader.start_epoch(0, 8), "loader: cannot start epoch 0 at batch 8, an epoch has 7 batches",
                       Error);
}

TEST_CASE("shards: together they are the one-process batches, and each resumes at batch k") {
  auto ds = std::make_shared<Synthetic>(50);
  LoaderConfig cfg{.batch_size = 8, .workers = 2, .seed = 7, .drop_last = false, .resolutions = {12, 8}};
  Loader whole(ds, augment(), cfg);
  const std::vector<Batch> all = epoch(whole, 3);
  REQUIRE(all.size() == 7);  // the last batch holds 2 images
  // Three shards of batches of 8: rows [0, 2), [2, 5), [5, 8); of the last batch [0, 0), [0, 1), [1, 2).
  const std::vector<std::vector<int64_t>> sizes{{2, 2, 2, 2, 2, 2}, {3, 3, 3, 3, 3, 3, 1}, {3, 3, 3, 3, 3, 3, 1}};
  std::vector<std::vector<Batch>> shards;
  for (int s = 0; s < 3; ++s) {
    cfg.shard = s, cfg.shards = 3;
    Loader part(ds, augment(), cfg);
    shards.push_back(epoch(part, 3));
    std::vector<int64_t> got;
    for (const Batch& b : shards.back()) got.push_back(b.size());
    CHECK(got == sizes[size_t(s)]);
    check_same(epoch(part, 3, 4), std::vector<Batch>(shards.back().begin() + 4, shards.back().end()));
  }
  for (size_t b = 0; b < all.size(); ++b) {
    std::vector<int64_t> indices;
    std::vector<float> pixels;
    for (const std::vector<Batch>& shard : shards) {
      if (b >= shard.size()) continue;
      CHECK(shard[b].index == int64_t(b));
      indices.insert(indices.end(), shard[b].indices.begin(), shard[b].indices.end());
      const std::vector<float> p = shard[b].images[1].to_vector<float>();
      pixels.insert(pixels.end(), p.begin(), p.end());
    }
    CHECK(indices == all[b].indices);
    CHECK(pixels == all[b].images[1].to_vector<float>());
  }
  cfg.shard = 3;
  CHECK_THROWS_WITH_AS(Loader(ds, augment(), cfg), "loader: shard 3 of 3 does not exist", Error);
}

TEST_CASE("multi-scale batches: each resolution is the bilinear (align_corners) downscale of the largest") {
  auto ds = std::make_shared<Synthetic>(8);
  for (bool antialias : {false, true}) {
    Loader loader(ds, augment(), {.batch_size = 4, .workers = 2, .resolutions = {12, 9, 5}, .antialias = antialias});
    const Batch b = epoch(loader, 0)[0];
    REQUIRE(b.images.size() == 3);
    CHECK(b.images[0].shape() == Shape{4, 3, 12, 12});
    CHECK(b.images[1].shape() == Shape{4, 3, 9, 9});
    CHECK(b.at_resolution(5).shape() == Shape{4, 3, 5, 5});
    CHECK(b.labels.dtype() == DType::i64);
    CHECK(b.images[0].dtype() == DType::f32);
    const std::vector<float> top = b.images[0].to_vector<float>();
    const std::vector<float> small = b.images[2].to_vector<float>();
    PlaneResizer r(12, 12, 5, 5, true, antialias);
    std::vector<float> expect(3 * 25);
    r.run(top.data() + 3 * 144 * 3, expect.data(), 3);  // row 3
    for (size_t i = 0; i < expect.size(); ++i) CHECK(small[3 * 75 + i] == expect[i]);
    if (!antialias) CHECK(small[3 * 75] == top[3 * 432]);  // corners coincide
  }
  Loader largest(ds, Pipeline(), {.batch_size = 4, .resolutions = {12, 9, 5}, .all_resolutions = false});
  const Batch b = epoch(largest, 0)[0];
  CHECK(b.images.size() == 1);
  CHECK(b.resolutions == std::vector<int>{12});
  CHECK(largest.resolutions() == std::vector<int>{12});
}

TEST_CASE("loader configuration errors") {
  auto ds = std::make_shared<Synthetic>(8);
  CHECK_THROWS_WITH_AS(Loader(ds, Pipeline(), {.batch_size = 4, .resolutions = {10, 8}}),
                       "loader: the first resolution (10) must be the size the transforms produce (12)", Error);
  CHECK_THROWS_WITH_AS(Loader(ds, Pipeline(), {.batch_size = 4, .resolutions = {12, 16}}),
                       "loader: resolution 16 must be in [1, 12] (largest first)", Error);
  CHECK_THROWS_WITH_AS(Loader(ds, Pipeline(), {.batch_size = 9}),
                       "loader: synthetic has fewer images than one batch of 9 (drop_last)", Error);
  CHECK_THROWS_WITH_AS(Loader(ds, Pipeline({Normalize{{0.5}, {0.5}}}), {.batch_size = 4}),
                       "normalize: 1 mean/std values for 3-channel images", Error);
  Loader fine(ds, Pipeline(), {.batch_size = 4});
  CHECK_THROWS_WITH_AS(fine.next(), "loader: call start_epoch before next", Error);
}

TEST_CASE("bad images: skipped and reported, or an error naming the file") {
  const test::TempDir dir("mn_loader_bad_images");
  fs::create_directories(dir.file("train/a"));
  fs::create_directories(dir.file("train/b"));
  for (int i = 0; i < 10; ++i) {
    const ImageU8 img = natural_image(80 + i, 100, 3, uint32_t(i));
    std::vector<uint8_t> jpeg = encode_jpeg(img, 90, 2);
    if (i == 3) jpeg.resize(jpeg.size() / 2);  // truncated
    if (i == 7) jpeg.assign(jpeg.size(), 0x42);  // not an image
    write_file(dir.file(cat("train/", i % 2 ? "b" : "a", "/img", i, ".jpg")), jpeg);
  }
  auto ds = make_dataset({.format = Format::folder, .root = dir.path});
  const Pipeline p({RandomResizedCrop{32}, HorizontalFlip{}});
  Loader skip(ds, p, {.batch_size = 5, .workers = 2, .seed = 1, .shuffle = false,
                      .on_bad_image = OnBadImage::skip, .resolutions = {32, 16}});
  // Files sorted: a/img0 a/img2 a/img4 a/img6 a/img8 | b/img1 b/img3 b/img5 b/img7 b/img9.
  const std::vector<Batch> batches = epoch(skip, 0);
  REQUIRE(batches.size() == 2);
  CHECK(batches[0].size() == 5);
  CHECK(batches[1].size() == 3);
  CHECK(batches[1].skipped == 2);
  CHECK(batches[1].indices == std::vector<int64_t>{5, 7, 9});
  CHECK(batches[1].images[1].shape() == Shape{3, 3, 16, 16});
  CHECK(batches[1].labels.to_vector<int64_t>() == std::vector<int64_t>{1, 1, 1});
  const EpochReport r = skip.report();
  CHECK(r.images == 8);
  CHECK(r.skipped == 2);
  REQUIRE(r.skipped_files.size() == 2);
  CHECK(r.skipped_files[0].find(dir.file("train/b/img3.jpg") + ": corrupt or truncated JPEG") == 0);
  CHECK(r.skipped_files[1].find(dir.file("train/b/img7.jpg") + ": ") == 0);
  // The rows kept are the same images the full-size path gives for those indices.
  Loader again(ds, p, {.batch_size = 5, .workers = 1, .seed = 1, .shuffle = false,
                       .on_bad_image = OnBadImage::skip, .resolutions = {32, 16}});
  check_same(epoch(again, 0), batches);

  // A batch of only bad images is left out: its index is missing from the epoch.
  Loader single(ds, p, {.batch_size = 1, .workers = 2, .shuffle = false, .on_bad_image = OnBadImage::skip});
  std::vector<int64_t> indices;
  for (const Batch& b : epoch(single, 0)) indices.push_back(b.index);
  CHECK(indices == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 7, 9});
  CHECK(single.report().skipped == 2);
  CHECK(single.report().batches == 8);

  Loader strict(ds, p, {.batch_size = 5, .workers = 2, .seed = 1, .shuffle = false});
  strict.start_epoch(0);
  CHECK(strict.next()->size() == 5);
  CHECK_THROWS_WITH_AS(strict.next(), doctest::Contains((dir.file("train/b/img3.jpg") + ": corrupt or truncated JPEG").c_str()),
                       Error);
  CHECK_FALSE(strict.next().has_value());  // the epoch ended with the error
  // A file deleted after listing is a bad image too.
  fs::remove(dir.file("train/a/img0.jpg"));
  strict.start_epoch(1);
  CHECK_THROWS_WITH_AS(strict.next(), doctest::Contains(("cannot read " + dir.file("train/a/img0.jpg")).c_str()), Error);
}

TEST_CASE("the three dataset kinds through one loader") {
  SUBCASE("Fashion-MNIST (IDX), all 10000 test images in multi-scale batches") {
    auto ds = make_dataset({.format = Format::idx, .root = "/usr/share/datasets/fashion-mnist", .split = Split::test});
    Loader loader(ds, Pipeline({Normalize{{0.286}, {0.353}}}),
                  {.batch_size = 1000, .workers = 2, .shuffle = false, .resolutions = {28, 24, 20, 16}});
    std::vector<int> histogram(10);
    int64_t n = 0;
    for (const Batch& b : epoch(loader, 0)) {
      CHECK(b.images[3].shape() == Shape{1000, 1, 16, 16});
      for (int64_t l : b.labels.to_vector<int64_t>()) ++histogram[size_t(l)];
      n += b.size();
    }
    CHECK(n == 10000);
    CHECK(histogram == std::vector<int>(10, 1000));
  }
  SUBCASE("CIFAR-10 binary with the CIFAR recipe") {
    const test::TempDir dir("mn_loader_cifar");
    std::vector<uint8_t> records;
    for (int i = 0; i < 20; ++i) {
      records.push_back(uint8_t(i % 10));
      for (int p = 0; p < 3072; ++p) records.push_back(uint8_t(p * i));
    }
    write_file(dir.file("test_batch.bin"), records);
    auto ds = make_dataset({.format = Format::cifar10, .root = dir.path, .split = Split::test});
    Loader loader(ds, Pipeline({PadRandomCrop{32, 4}, HorizontalFlip{}, Normalize{{0.49, 0.48, 0.45}, {0.25, 0.24, 0.26}}}),
                  {.batch_size = 8, .workers = 2, .resolutions = {32, 28, 24, 20}});
    const std::vector<Batch> batches = epoch(loader, 0);
    REQUIRE(batches.size() == 2);
    CHECK(batches[0].images[0].shape() == Shape{8, 3, 32, 32});
    CHECK(batches[0].images[3].shape() == Shape{8, 3, 20, 20});
  }
  SUBCASE("an image folder of JPEGs and PNGs with the ImageNet recipe") {
    const test::TempDir dir("mn_loader_folder");
    for (int i = 0; i < 6; ++i) {
      const std::string d = dir.file(cat("val/class", i % 3));
      fs::create_directories(d);
      const ImageU8 img = natural_image(90 + 7 * i, 120, 3, uint32_t(i));
      if (i % 2)
        write_file(d + cat("/", i, ".png"), encode_png(img));
      else
        write_file(d + cat("/", i, ".jpg"), encode_jpeg(img, 90, 2, i == 2));
    }
    auto ds = make_dataset({.format = Format::folder, .root = dir.path, .split = Split::test});
    Loader loader(ds, Pipeline({Resize{73}, CenterCrop{64}, Normalize{{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}}),
                  {.batch_size = 3, .workers = 2, .shuffle = false, .resolutions = {64, 48}});
    const std::vector<Batch> batches = epoch(loader, 0);
    REQUIRE(batches.size() == 2);
    CHECK(batches[1].images[1].shape() == Shape{3, 3, 48, 48});
    CHECK(batches[0].labels.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 1});
  }
}
