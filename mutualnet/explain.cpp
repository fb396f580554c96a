// One step of the training run, printed; docs/walkthrough.md reads the code in the same order.
#include "mutualnet/explain.h"

#include <cmath>
#include <cstdio>

#include "mutualnet/experiment.h"
#include "mutualnet/flops.h"
#include "nn/linear.h"

namespace mn {

namespace {

// The output shape of each top-level block of the network at one width and resolution, found by
// walking the network's children in registration order with a shape probe (Sequential containers
// element by element) until the classifier: "16@28 32@28 64@14 128@7" for WRN-10-2 at width 1.
std::string stage_channels(models::Model& model, double width, int64_t resolution) {
  WidthScope scope(*model.width, width);
  nn::Probe p{{1, model.spec.in_channels, resolution, resolution}, nullptr};
  std::vector<Shape> shapes;
  auto is_linear = [](nn::Module* m) { return dynamic_cast<nn::Linear*>(m) != nullptr; };
  for (auto& [name, m] : model.net->named_modules()) {
    if (name.empty() || name.find('.') != std::string::npos) continue;  // direct children only
    auto* seq = dynamic_cast<nn::Sequential*>(m);
    if (is_linear(m) || (seq && seq->size() > 0 && is_linear(&(*seq)[0]))) break;
    if (seq) {
      for (size_t i = 0; i < seq->size(); ++i) shapes.push_back((p = (*seq)[i].trace(p)).shape);
    } else {
      shapes.push_back((p = m->trace(p)).shape);
    }
  }
  std::string out;
  Shape previous;
  for (const Shape& s : shapes) {
    if (s.size() != 4 || s == previous) continue;
    if (!out.empty()) out += ' ';
    out += cat(s[1], "@", s[2]);
    previous = s;
  }
  return out;
}

// L2 norm of a list of tensors (the gradients), or of their difference from `before`.
double l2_norm(const std::vector<Tensor>& now, const std::vector<Tensor>& before = {}) {
  double sq = 0;
  for (size_t i = 0; i < now.size(); ++i) {
    if (!now[i].defined()) continue;
    std::vector<float> a = now[i].to(DType::f32).to_vector<float>();
    std::vector<float> b = before.empty() ? std::vector<float>(a.size(), 0.f) : before[i].to(DType::f32).to_vector<float>();
    for (size_t j = 0; j < a.size(); ++j) sq += (double(a[j]) - b[j]) * (double(a[j]) - b[j]);
  }
  return std::sqrt(sq);
}

void print_terms(Experiment& ex, const std::vector<StepTerm>& terms) {
  std::printf("  %s  %-11s  %-5s  %-10s  %-37s %7s  %-20s  %s\n", "#", "sub-network", "width", "resolution",
              "channels@size per stage", "MFLOPs", "loss term", "gradient norm");
  for (size_t k = 0; k < terms.size(); ++k) {
    const Subnet& s = terms[k].subnet;
    const char* role = k == 0 ? "widest" : s.width == ex.config.mutualnet.width_min ? "narrowest" : "random";
    const SubnetCost cost = subnet_cost(ex.model, s.width, s.resolution);
    std::string res = cat(s.resolution, "x", s.resolution);
    std::string loss = cat(terms[k].loss_kind == LossKind::kl ? "KL " : "CE ", terms[k].loss);
    std::printf("  %zu  %-11s  %.3f  %-10s  %-37s %7.2f  %-20s  %.4f\n", k + 1, role, s.width, res.c_str(),
                stage_channels(ex.model, s.width, s.resolution).c_str(), cost.mflops(), loss.c_str(),
                terms[k].grad_norm);
  }
}

}  // namespace

void explain_step(const Config& config) {
  Experiment ex(config, {.train_data = true, .optimizer = true});
  const Config& c = ex.config;
  StepOptions step_options = ex.step_options;
  step_options.measure_grad_norms = true;

  ex.train_loader->start_epoch(0);
  std::optional<data::Batch> batch = ex.train_loader->next();
  MN_CHECK(batch.has_value(), "explain: the training loader gave no batch");
  const std::vector<Subnet> subnets = sample_subnets(step_options, c.data.resolutions, ex.sampler);
  const double lr = ex.schedule.lr_at(0);

  std::printf("One MutualNet step of %s on %s (%lld images per batch, %s), as mn train runs it.\n",
              ex.model.spec.name().c_str(), ex.train_set->describe().c_str(),
              static_cast<long long>(batch->size()), ex.device.str().c_str());
  std::printf("Data: the loader (data/loader.cpp) decodes and augments the batch at %lld px and "
              "downscales it to %s.\n", static_cast<long long>(c.data.resolutions[0]),
              config_value(c, "data.resolutions").c_str());
  std::printf("Step (mutualnet/train_step.cpp, mutualnet_step): each sub-network runs forward and "
              "backward; gradients add up in the shared weights.\n\n");

  const std::vector<Variable> params = ex.model.net->parameters();
  std::vector<Tensor> weights_before, grads;
  for (const Variable& p : params) weights_before.push_back(p.data().clone());
  const std::vector<StepTerm> terms = mutualnet_step(ex.model, *ex.optimizer, images_on(*batch, ex.device),
                                                     c.data.resolutions, batch->labels.to(ex.device), subnets,
                                                     step_options, lr);
  print_terms(ex, terms);

  std::vector<Tensor> weights_after;
  for (const Variable& p : params) {
    grads.push_back(p.grad());
    weights_after.push_back(p.data());
  }
  std::printf("\nSum of the %zu terms' gradients (what SGD sees): L2 norm %.4f.\n", terms.size(), l2_norm(grads));
  std::printf("SGD (nn/optim.cpp, Sgd::step): lr %.4g (schedule %s, iteration 0 of %lld), momentum %.3g%s, "
              "weight decay %.3g -> the weights moved by %.4g (L2).\n",
              lr, config_value(c, "optim.schedule").c_str(), static_cast<long long>(ex.schedule.total_iters),
              c.optim.momentum, c.optim.nesterov ? " (Nesterov)" : "", c.optim.weight_decay,
              l2_norm(weights_after, weights_before));
  std::printf("Read it in order: docs/walkthrough.md.\n");
}

}  // namespace mn
