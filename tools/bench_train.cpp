// `mn bench train CONFIG [--device cpu|cuda] [--steps N] [--set key=value]...`: images/s of the
// full MutualNet step (forward, backward and SGD of four sub-networks) and peak memory.
// The sub-networks are fixed so that runs compare like with like: the widest on R0
// (cross-entropy), then three widths evenly spaced down to the narrowest, on the next
// resolutions (for the Fashion-MNIST config: 1.0@28, 0.75@24, 0.5@20, 0.25@16, the same as
// `ref_mutualnet.py --bench-steps`).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "mutualnet/experiment.h"
#include "mutualnet/train_step.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "tools/commands.h"

namespace mn::cli {

int bench_train(int argc, char** argv) {
  const char* usage = "usage: mn bench train CONFIG [--device cpu|cuda] [--steps N] [--set key=value]...";
  std::string config_path;
  std::vector<std::string> overrides;
  int64_t steps = 20;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* flag) -> std::string {
      MN_CHECK(i + 1 < argc, flag, " needs a value (", usage, ")");
      return argv[++i];
    };
    if (a == "--device") overrides.push_back("device=" + value("--device"));
    else if (a == "--steps") steps = std::stoll(value("--steps"));
    else if (a == "--set") overrides.push_back(value("--set"));
    else if (a.rfind("--", 0) == 0) fail("unknown option '", a, "' (", usage, ")");
    else if (config_path.empty()) config_path = a;
    else fail("unexpected argument '", a, "' (", usage, ")");
  }
  MN_CHECK(!config_path.empty() && steps > 0, usage);
  const Config c = load_config(config_path, overrides);
  const Device device = resolve_device(c);

  auto loader = train_loader(c, open_dataset(c, data::Split::train));
  loader->start_epoch(0);
  std::optional<data::Batch> batch = loader->next();
  MN_CHECK(batch.has_value(), "bench train: no training batch");
  std::vector<Tensor> images;
  for (const Tensor& t : batch->images) images.push_back(t.to(device));
  const Tensor labels = batch->labels.to(device);

  models::Model model = models::build_model(model_spec(c), static_cast<uint64_t>(c.seed));
  model.net->to(device);
  nn::Sgd optimizer = make_optimizer(c, model);
  const StepOptions o = StepOptions::from(c);
  const auto& res = c.data.resolutions;
  std::vector<Subnet> subnets{{o.width_max, res[0]}};
  for (int k = 1; k <= 3; ++k)
    subnets.push_back({o.width_max - (o.width_max - o.width_min) * k / 3.0, res[size_t(k) % res.size()]});

  // Warm-up: the first steps pick cuDNN algorithms and fill the allocator's cache.
  for (int k = 0; k < 3; ++k) mutualnet_step(model, optimizer, images, res, labels, subnets, o, c.optim.lr);
  backend(device).synchronize();
  backend(device).reset_peak_memory();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < steps; ++s) mutualnet_step(model, optimizer, images, res, labels, subnets, o, c.optim.lr);
  backend(device).synchronize();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  rusage usage_now{};
  getrusage(RUSAGE_SELF, &usage_now);
  std::string plan;
  for (const Subnet& s : subnets) plan += (plan.empty() ? "" : ", ") + cat(s.width, "@", s.resolution);
  const MemoryStats mem = backend(device).memory_stats();
  std::printf("| model | device | batch | sub-networks | steps | ms/step | images/s | peak host RSS (MiB) | peak device MiB (allocated / reserved) |\n");
  std::printf("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n");
  std::printf("| %s | %s | %lld | %s | %lld | %.1f | %.1f | %.0f | %.0f / %.0f |\n", model.spec.name().c_str(),
              device.str().c_str(), static_cast<long long>(batch->size()), plan.c_str(),
              static_cast<long long>(steps), 1000 * seconds / double(steps),
              double(steps * batch->size()) / seconds, double(usage_now.ru_maxrss) / 1024,
              double(mem.peak) / (1 << 20), double(mem.reserved) / (1 << 20));
  return 0;
}

}  // namespace mn::cli
