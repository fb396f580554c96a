// `mn bench train CONFIG [--device cpu|cuda] [--steps N] [--warmup N] [--set key=value]...`:
// images/s of the full MutualNet step (forward, backward and SGD of four sub-networks) and peak
// memory, for the config's model, batch size, resolutions, precision and memory format (the table's
// layout column: nchw, or nhwc for channels-last activations). On a GPU it also reports
// the memory the allocator reserved from the driver against the peak actually allocated: MutualNet
// changes shapes every sub-network, and a cache that cannot reuse memory across sizes shows here.
//
// The sub-networks are fixed so that runs compare like with like: the widest on R0
// (cross-entropy), then three widths evenly spaced down to the narrowest on the next
// resolutions (KL from the widest). For the Fashion-MNIST config that is 1.0@28, 0.75@24,
// 0.5@20, 0.25@16, as `ref_mutualnet.py --bench-steps`; for CIFAR WRN-28-10 1.0@32, 0.967@28,
// 0.933@24, 0.9@20, as tools/bench_train_torch.py. The data is one fixed random batch already on
// the device (and its bilinear downscales): this times the step, not the loader.
//
// Under mpirun (or srun) it times the data-parallel step: train.batch_size is the global batch,
// each rank trains its share, the gradients are averaged over the ranks as in `mn train`, and
// images/s counts the images of all ranks (rank 0 prints; peak memory is its own).
//
// With --epoch it times training instead, input included: batches from a synthetic in-memory
// dataset of --images random images of the config's shape (CIFAR: 50000 of 3x32x32) through the
// config's transforms and loader (on the device or the CPU as data.device_input decides), the
// sub-networks sampled as in training; it prints seconds per epoch and the projection for
// train.epochs epochs (validation not included).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "data/device_loader.h"
#include "io/json.h"
#include "mutualnet/bn_calibration.h"
#include "mutualnet/experiment.h"
#include "mutualnet/flops.h"
#include "mutualnet/sweep_report.h"
#include "mutualnet/train_step.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "tensor/ops.h"
#include "tools/commands.h"

namespace mn::cli {

const Spec kBenchTrainSpec{
    "bench train",
    "Times the MutualNet step (4 fixed sub-networks, a fixed random batch): images/s, peak memory "
    "(--set precision=bf16|tf32|fp32 picks the precision, --set memory_format=nchw|nhwc the layout).",
    {positional("CONFIG", "the experiment's TOML config: model, batch size, resolutions"),
     option("--device", "cpu|cuda", "where to run (default: the config's device)"),
     option("--steps", "N", "timed steps", "20"),
     option("--warmup", "N", "untimed steps before them", "2"),
     flag("--epoch", "time training steps through the whole input path on synthetic data; project the run's time"),
     option("--images", "N", "--epoch: images in the synthetic training set", "50000"),
     repeated("--set", "key=value", "overrides a config key, e.g. --set train.batch_size=64")}};

namespace {

// --epoch: `warmup` untimed and `steps` timed training steps, each drawing its batch from the
// loader, then the projection.
int bench_epoch(Experiment& ex, int64_t images, int64_t steps, int64_t warmup) {
  const Config& c = ex.config;
  const int classes = static_cast<int>(std::min<int64_t>(c.model.num_classes, 256));
  auto dataset = data::synthetic_dataset(images, static_cast<int>(c.data.resolutions[0]),
                                         static_cast<int>(c.model.in_channels), classes, ex.seeds.data);
  std::unique_ptr<data::BatchSource> loader = make_train_loader(c, dataset, ex.device);
  int64_t epoch = 0;
  loader->start_epoch(epoch);
  auto step = [&] {
    std::optional<data::Batch> batch = loader->next();
    if (!batch) {
      loader->start_epoch(++epoch);
      batch = loader->next();
    }
    const std::vector<Subnet> subnets = sample_subnets(ex.step_options, c.data.resolutions, ex.sampler);
    mutualnet_step(ex.model, *ex.optimizer, images_on(*batch, ex.device), c.data.resolutions,
                   batch->labels.to(ex.device), subnets, ex.step_options, c.optim.lr, nullptr,
                   [&] { loader->prefetch(); });
  };
  Backend& be = backend(ex.device);
  for (int64_t s = 0; s < warmup; ++s) step();
  be.synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < steps; ++s) step();
  be.synchronize();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double per_step = seconds / double(steps), per_epoch = per_step * double(loader->batches_per_epoch());
  const double hours = per_epoch * double(c.train.epochs) / 3600;
  const bool built = dynamic_cast<data::DeviceLoader*>(loader.get()), scaled = dynamic_cast<data::UploadLoader*>(loader.get());
  const std::string input = built ? cat("built on ", ex.device.str())
                            : scaled ? cat("CPU loader, downscaled on ", ex.device.str())
                                     : std::string("CPU loader");
  std::printf("| model | device | input | batch | steps/epoch | ms/step | s/epoch | %lld epochs (h) |\n",
              static_cast<long long>(c.train.epochs));
  std::printf("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
  std::printf("| %s | %s | %s | %lld | %lld | %.1f | %.1f | %.2f |\n", ex.model.spec.name().c_str(),
              be.device_name().c_str(), input.c_str(),
              static_cast<long long>(c.train.batch_size), static_cast<long long>(loader->batches_per_epoch()),
              1000 * per_step, per_epoch, hours);
  Json j = Json::object();
  j.set("impl", "mn");
  j.set("device", be.device_name());
  j.set("model", ex.model.spec.name());
  j.set("input", built ? "device" : scaled ? "upload" : "cpu");
  j.set("batch", c.train.batch_size);
  j.set("steps", steps);
  j.set("ms_per_step", 1000 * per_step);
  j.set("seconds_per_epoch", per_epoch);
  j.set("epochs", c.train.epochs);
  j.set("projected_hours", hours);
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

int bench_train(int argc, char** argv) {
  const Args args(kBenchTrainSpec, argc, argv);
  const std::string config_path = args.get("CONFIG");
  std::vector<std::string> overrides = args.all("--set");
  if (args.has("--device")) overrides.push_back("device=" + args.get("--device"));
  const int64_t steps = args.integer("--steps"), warmup = args.integer("--warmup");
  if (steps <= 0 || warmup < 0) args.fail("--steps must be positive and --warmup not negative");
  Experiment ex(load_config(config_path, overrides), {.optimizer = true});
  if (args.has("--epoch")) {
    const int64_t images = args.integer("--images");
    if (images < ex.config.train.batch_size) args.fail("--images must hold at least one batch");
    if (ex.comm.size() > 1) args.fail("--epoch times one process: run it without mpirun");
    return bench_epoch(ex, images, steps, warmup);
  }
  const Config& c = ex.config;
  const Device device = ex.device;
  Backend& be = backend(device);

  dist::Communicator& comm = ex.comm;
  // A fixed random batch, this rank's share of the global one (Experiment checked that it
  // splits evenly): (N, C, R0, R0) normal images, their downscales, uniform labels.
  const int64_t n = c.train.batch_size / comm.size(), r0 = c.data.resolutions[0];
  Generator gen(ex.seeds.data);
  Tensor x = Tensor::empty({n, c.model.in_channels, r0, r0});
  ops::normal_(x, 0, 1, gen);
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t& label : y) label = gen.randint(0, c.model.num_classes - 1);
  std::vector<Tensor> images;
  for (int64_t r : c.data.resolutions)
    images.push_back(r == r0 ? x.to(device) : ops::resize_bilinear_forward(x, r, r, true).to(device));
  const Tensor labels = Tensor::from_vector(y, {n}).to(device);

  models::Model& model = ex.model;
  nn::Sgd& optimizer = *ex.optimizer;
  const StepOptions& o = ex.step_options;
  const auto& res = c.data.resolutions;
  std::vector<Subnet> subnets{{o.width_max, res[0]}};
  for (int k = 1; k <= 3; ++k)
    subnets.push_back({o.width_max - (o.width_max - o.width_min) * k / 3.0, res[size_t(k) % res.size()]});

  auto step = [&] { mutualnet_step(model, optimizer, images, res, labels, subnets, o, c.optim.lr, &ex.device_comm); };
  for (int64_t s = 0; s < warmup; ++s) step();
  be.synchronize();
  be.reset_peak_memory();
  comm.barrier();  // every rank starts the clock together and stops it after the slowest
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < steps; ++s) step();
  be.synchronize();
  comm.barrier();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Peak memory: the device allocator's on a GPU (and what it holds from the driver after the
  // timed steps), the process's resident set on the CPU.
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const MemoryStats mem = be.memory_stats();
  const double peak_mib = device.is_cuda() ? double(mem.peak) / (1 << 20) : double(ru.ru_maxrss) / 1024;
  const double reserved_mib = double(mem.reserved) / (1 << 20);
  const Precision precision = resolve_precision(c, device);
  const char* precision_name = precision == Precision::bf16 ? "bf16" : precision == Precision::tf32 ? "tf32" : "fp32";
  std::string plan;
  Json subnet_list = Json::array(), subnet_macs = Json::array();
  for (const Subnet& s : subnets) {
    plan += (plan.empty() ? "" : ", ") + cat(width_label(s.width), "@", s.resolution);
    subnet_list.push(cat(s.width, "@", s.resolution));
    subnet_macs.push(subnet_cost(model, s.width, s.resolution).macs);
  }
  int64_t params = 0;  // the gradient's elements, what data-parallel training all-reduces
  for (const Variable& p : model.net->parameters()) params += p.numel();
  const int64_t global_batch = c.train.batch_size;
  const double ms = 1000 * seconds / double(steps), ips = double(steps * global_batch) / seconds;
  const std::string device_name = comm.size() == 1 ? be.device_name() : cat(comm.size(), " x ", be.device_name());
  const char* format_name = memory_format_name(be.memory_format());
  std::printf("| model | device | precision | layout | batch | sub-networks | steps | ms/step | images/s | peak %s (MiB) |%s\n",
              device.is_cuda() ? "device memory" : "host RSS", device.is_cuda() ? " reserved (MiB) | reserved / peak |" : "");
  std::printf("| --- | --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: |%s\n", device.is_cuda() ? " ---: | ---: |" : "");
  std::printf("| %s | %s | %s | %s | %lld | %s | %lld | %.1f | %.1f | %.0f |", model.spec.name().c_str(),
              device_name.c_str(), precision_name, format_name, static_cast<long long>(global_batch), plan.c_str(),
              static_cast<long long>(steps), ms, ips, peak_mib);
  if (device.is_cuda()) std::printf(" %.0f | %.2f |", reserved_mib, reserved_mib / std::max(peak_mib, 1e-9));
  std::printf("\n");
  Json j = Json::object();
  j.set("impl", "mn");
  j.set("device", be.device_name());
  j.set("ranks", comm.size());
  j.set("model", model.spec.name());
  j.set("batch", global_batch);
  j.set("subnets", subnet_list);
  j.set("subnet_macs", subnet_macs);  // per image (tools/scaling_projection.py weighs the backwards with them)
  j.set("params", params);
  j.set("grad_bucket_bytes", o.grad_bucket_bytes);
  j.set("bn_layers", int64_t(batch_norms(model).size()));
  j.set("sync_bn", c.train.sync_bn);
  j.set("steps", steps);
  j.set("ms_per_step", ms);
  j.set("images_per_s", ips);
  j.set("precision", precision_name);
  j.set("memory_format", format_name);
  j.set("peak_mem_mib", peak_mib);
  if (device.is_cuda()) j.set("reserved_mib", reserved_mib);
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace mn::cli
