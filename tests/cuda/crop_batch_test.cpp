// The device input path on CUDA against the CPU: crop_batch and resample_taps on random inputs
// (exact: a table lookup, and multiplies and adds in the CPU's order without fused multiply-add),
// then the DeviceLoader and the UploadLoader on the GPU against the threaded CPU Loader, bit for bit.
#include "data/device_loader.h"
#include "data/resample.h"
#include "tensor/crop_batch.h"
#include "tensor/resample_taps.h"
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

namespace {

Tensor random_bytes(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  Tensor t = Tensor::empty(shape, DType::u8);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(g.randint(0, 255));
  return t;
}

// Epoch `e` of both loaders, batch by batch: `got`'s on the GPU, equal to `want`'s.
// prefetch: as the trainer does, the next batch's copy is started while this one is still in use.
void check_gpu_epoch(data::BatchSource& got, data::Loader& want, int64_t e, const std::string& what,
                     bool prefetch = false) {
  want.start_epoch(e);
  got.start_epoch(e);
  while (auto w = want.next()) {
    const std::optional<data::Batch> g = got.next();
    REQUIRE(g);
    if (prefetch) got.prefetch();
    CHECK(g->indices == w->indices);
    test::check_gpu_equal(g->labels, w->labels, cat(what, " batch ", g->index, " labels"));
    for (size_t k = 0; k < w->images.size(); ++k)
      test::check_gpu_equal(g->images[k], w->images[k], cat(what, " batch ", g->index, " at ", w->resolutions[k]));
  }
  CHECK_FALSE(got.next());
}

}  // namespace

TEST_CASE("cuda: crop_batch matches the CPU bit for bit (zero and reflect padding, mirrored rows)") {
  if (!test::gpu_or_skip()) return;
  const Tensor images = random_bytes({20, 32, 32, 3}, 5);
  const Tensor table = test::normal_tensor({3, 256}, 6);
  Generator g(7);
  std::vector<int64_t> p;
  for (int b = 0; b < 64; ++b)
    for (int64_t v : {g.randint(0, 19), g.randint(-4, 4), g.randint(-4, 4), g.randint(0, 1)}) p.push_back(v);
  const Tensor params = Tensor::from_vector(p, {64, 4});
  for (PadMode mode : {PadMode::zero, PadMode::reflect}) {
    const Tensor cpu = ops::crop_batch(images, params, table, 32, mode);
    test::check_gpu_equal(ops::crop_batch(images.to(gpu()), params.to(gpu()), table.to(gpu()), 32, mode), cpu,
                          mode == PadMode::zero ? "zero padding" : "reflect padding");
  }
}

TEST_CASE("cuda: resample_taps matches the CPU bit for bit (plain and antialiased taps)") {
  if (!test::gpu_or_skip()) return;
  const Tensor x = test::normal_tensor({8, 3, 32, 32}, 8);
  for (bool antialias : {false, true})
    for (int r : {28, 24, 20, 9}) {
      const data::PlaneResizer resizer(32, 32, r, r, true, antialias);
      auto first = [](const data::ResampleAxis& a) {
        return Tensor::from_vector(std::vector<int64_t>(a.first.begin(), a.first.end()), {a.out_size});
      };
      auto weights = [](const data::ResampleAxis& a) { return Tensor::from_vector(a.weights, {a.out_size, a.taps}); };
      const Tensor cpu = ops::resample_taps(x, first(resizer.rows()), weights(resizer.rows()), first(resizer.cols()),
                                            weights(resizer.cols()));
      test::check_gpu_equal(ops::resample_taps(x.to(gpu()), first(resizer.rows()).to(gpu()),
                                               weights(resizer.rows()).to(gpu()), first(resizer.cols()).to(gpu()),
                                               weights(resizer.cols()).to(gpu())),
                            cpu, cat("32 -> ", r, antialias ? " antialiased" : ""));
    }
}

TEST_CASE("cuda: the device loader's batches equal the CPU loader's bit for bit") {
  if (!test::gpu_or_skip()) return;
  auto ds = data::synthetic_dataset(300, 32, 3, 100, 3);
  const data::Pipeline p({data::PadRandomCrop{32, 4, data::PadMode::reflect}, data::HorizontalFlip{},
                          data::Normalize{{0.5071, 0.4865, 0.4409}, {0.2673, 0.2564, 0.2762}}});
  const data::LoaderConfig cfg{.batch_size = 128, .workers = 4, .seed = 1995, .drop_last = false,
                               .resolutions = {32, 28, 24, 20}};
  data::Loader cpu(ds, p, cfg);
  data::DeviceLoader dev(ds, p, cfg, gpu());
  check_gpu_epoch(dev, cpu, 1, "device loader");
}

TEST_CASE("cuda: the upload loader's batches (R0 from the CPU loader, downscaled on the GPU) equal the Loader's") {
  if (!test::gpu_or_skip()) return;
  auto ds = data::synthetic_dataset(64, 40, 3, 10, 4);
  const data::Pipeline p({data::RandomResizedCrop{32, 0.25, 1.0}, data::ColorJitter{0.4, 0.4, 0.4},
                          data::HorizontalFlip{}, data::Normalize{{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}});
  for (bool antialias : {false, true}) {
    const data::LoaderConfig cfg{.batch_size = 16, .workers = 4, .seed = 9, .resolutions = {32, 28, 24, 20},
                                 .antialias = antialias};
    data::Loader cpu(ds, p, cfg);
    data::UploadLoader up(ds, p, cfg, gpu());
    check_gpu_epoch(up, cpu, 0, antialias ? "upload loader, antialiased" : "upload loader");
    check_gpu_epoch(up, cpu, 1, antialias ? "upload loader, antialiased, prefetched" : "upload loader, prefetched",
                    true);
  }
}
