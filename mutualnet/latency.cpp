// Timing one sub-network's forward pass.
#include "mutualnet/latency.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "autograd/functions.h"
#include "tensor/backend.h"

namespace mn {

double latency_ms(models::Model& model, double width, int64_t resolution, Device device, const LatencyOptions& o) {
  MN_CHECK(o.batch >= 1 && o.repeats >= 1 && o.warmup >= 0, "latency: batch ", o.batch, ", ", o.repeats,
           " repeats and ", o.warmup, " warm-up passes");
  const bool was_training = model.net->is_training();
  model.net->eval();
  WidthScope scope(*model.width, width);
  NoGradGuard no_grad;
  Generator gen(0);
  Tensor x = Tensor::empty({o.batch, model.spec.in_channels, resolution, resolution});
  ops::uniform_(x, -1, 1, gen);  // (B, C, R, R), normalised-image range
  const Variable input(x.to(device));
  Backend& b = backend(device);
  std::vector<double> times;
  for (int i = 0; i < o.warmup + o.repeats; ++i) {
    b.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    model(input);
    b.synchronize();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= o.warmup) times.push_back(ms);
  }
  model.net->train(was_training);
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

}  // namespace mn
