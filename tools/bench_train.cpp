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
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "mutualnet/experiment.h"
#include "io/json.h"
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
     repeated("--set", "key=value", "overrides a config key, e.g. --set train.batch_size=64")}};

int bench_train(int argc, char** argv) {
  const Args args(kBenchTrainSpec, argc, argv);
  const std::string config_path = args.get("CONFIG");
  std::vector<std::string> overrides = args.all("--set");
  if (args.has("--device")) overrides.push_back("device=" + args.get("--device"));
  const int64_t steps = args.integer("--steps"), warmup = args.integer("--warmup");
  if (steps <= 0 || warmup < 0) args.fail("--steps must be positive and --warmup not negative");
  Experiment ex(load_config(config_path, overrides), {.optimizer = true});
  const Config& c = ex.config;
  const Device device = ex.device;
  Backend& be = backend(device);

  // A fixed random batch: (N, C, R0, R0) normal images, their downscales, uniform labels.
  const int64_t n = c.train.batch_size, r0 = c.data.resolutions[0];
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

  for (int64_t s = 0; s < warmup; ++s) mutualnet_step(model, optimizer, images, res, labels, subnets, o, c.optim.lr);
  be.synchronize();
  be.reset_peak_memory();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < steps; ++s) mutualnet_step(model, optimizer, images, res, labels, subnets, o, c.optim.lr);
  be.synchronize();
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
  Json subnet_list = Json::array();
  for (const Subnet& s : subnets) {
    plan += (plan.empty() ? "" : ", ") + cat(width_label(s.width), "@", s.resolution);
    subnet_list.push(cat(s.width, "@", s.resolution));
  }
  const double ms = 1000 * seconds / double(steps), ips = double(steps * n) / seconds;
  const char* format_name = memory_format_name(be.memory_format());
  std::printf("| model | device | precision | layout | batch | sub-networks | steps | ms/step | images/s | peak %s (MiB) |%s\n",
              device.is_cuda() ? "device memory" : "host RSS", device.is_cuda() ? " reserved (MiB) | reserved / peak |" : "");
  std::printf("| --- | --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: |%s\n", device.is_cuda() ? " ---: | ---: |" : "");
  std::printf("| %s | %s | %s | %s | %lld | %s | %lld | %.1f | %.1f | %.0f |", model.spec.name().c_str(),
              be.device_name().c_str(), precision_name, format_name, static_cast<long long>(n), plan.c_str(),
              static_cast<long long>(steps), ms, ips, peak_mib);
  if (device.is_cuda()) std::printf(" %.0f | %.2f |", reserved_mib, reserved_mib / std::max(peak_mib, 1e-9));
  std::printf("\n");
  Json j = Json::object();
  j.set("impl", "mn");
  j.set("device", be.device_name());
  j.set("model", model.spec.name());
  j.set("batch", n);
  j.set("subnets", subnet_list);
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
