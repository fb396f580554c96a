// The MutualNet step (see train_step.h for the algorithm).
#include "mutualnet/train_step.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "autograd/functions.h"
#include "tensor/ops.h"

namespace mn {

StepOptions StepOptions::from(const Config& c) {
  StepOptions o;
  o.width_min = c.mutualnet.width_min;
  o.width_max = c.mutualnet.width_max;
  o.num_random_widths = c.mutualnet.num_random_widths;
  o.distill = c.mutualnet.distill;
  o.random_resolution = c.mutualnet.random_resolution;
  o.label_smoothing = c.mutualnet.label_smoothing;
  o.grad_bucket_bytes = std::max<int64_t>(4, int64_t(c.train.grad_bucket_mb * (1 << 20)));
  return o;
}

std::vector<Subnet> sample_subnets(const StepOptions& o, const std::vector<int64_t>& resolutions,
                                   Generator& rng) {
  MN_CHECK(!resolutions.empty(), "mutualnet step: no resolutions");
  std::vector<Subnet> subnets{{o.width_max, resolutions[0]}};
  std::vector<double> widths{o.width_min};
  for (int64_t i = 0; i < o.num_random_widths; ++i) widths.push_back(rng.uniform(o.width_min, o.width_max));
  std::sort(widths.begin(), widths.end(), std::greater<>());
  const int64_t last = static_cast<int64_t>(resolutions.size()) - 1;
  for (double w : widths)
    subnets.push_back({w, o.random_resolution ? resolutions[rng.randint(0, last)] : resolutions[0]});
  return subnets;
}

namespace {

const Tensor& images_at(const std::vector<Tensor>& images, const std::vector<int64_t>& resolutions,
                        int64_t r) {
  for (size_t k = 0; k < resolutions.size(); ++k)
    if (resolutions[k] == r) return images[k];
  fail("mutualnet step: the batch has no images at resolution ", r);
}

// Copies of the current gradients (undefined where none yet), to measure what one term adds.
std::vector<Tensor> snapshot_grads(const std::vector<Variable>& params) {
  std::vector<Tensor> out;
  for (const Variable& p : params) out.push_back(p.grad().defined() ? p.grad().clone() : Tensor());
  return out;
}

double grad_delta_norm(const std::vector<Variable>& params, const std::vector<Tensor>& before) {
  double sq = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].grad().defined()) continue;
    std::vector<float> now = params[i].grad().to(DType::f32).to_vector<float>();
    std::vector<float> was = before[i].defined() ? before[i].to(DType::f32).to_vector<float>()
                                                 : std::vector<float>(now.size(), 0.f);
    for (size_t j = 0; j < now.size(); ++j) {
      double d = double(now[j]) - double(was[j]);
      sq += d * d;
    }
  }
  return std::sqrt(sq);
}

}  // namespace

std::vector<StepTerm> mutualnet_step(models::Model& model, nn::Sgd& optimizer,
                                     const std::vector<Tensor>& images,
                                     const std::vector<int64_t>& resolutions, const Tensor& labels,
                                     const std::vector<Subnet>& subnets, const StepOptions& o,
                                     double lr, dist::Communicator* grads_comm,
                                     const std::function<void()>& queued) {
  MN_CHECK(!subnets.empty() && subnets[0].resolution == resolutions[0], "mutualnet step: the first sub-network "
           "must be the widest on R0");
  model.net->train();
  optimizer.zero_grad();
  const std::vector<Variable> params = o.measure_grad_norms ? model.net->parameters() : std::vector<Variable>{};
  // Several ranks: each gradient the last backward finishes joins a bucket, whose all-reduce
  // starts as soon as it is full, while the backward goes on.
  std::optional<dist::GradAverager> averager;
  if (grads_comm && grads_comm->size() > 1) averager.emplace(*grads_comm, model.net->parameters(), o.grad_bucket_bytes);

  std::vector<StepTerm> terms;
  std::vector<Variable> losses;  // read back once, after every backward (one device sync)
  Tensor teacher;                // (N, classes): the widest network's logits, detached
  for (size_t k = 0; k < subnets.size(); ++k) {
    const Subnet& s = subnets[k];
    WidthScope scope(*model.width, s.width);
    Variable logits = model(Variable(images_at(images, resolutions, s.resolution)));
    Variable loss;
    StepTerm term{s, LossKind::cross_entropy};
    if (k == 0) {
      loss = cross_entropy(logits, labels, o.label_smoothing);
      teacher = logits.data();  // a plain tensor: no gradient flows back into the teacher
    } else if (o.distill) {
      loss = kl_div(logits, teacher);
      term.loss_kind = LossKind::kl;
    } else {
      loss = cross_entropy(logits, labels);
    }
    std::vector<Tensor> before = o.measure_grad_norms ? snapshot_grads(params) : std::vector<Tensor>{};
    if (averager && k + 1 == subnets.size())
      loss.backward({}, [&](const VariableImpl& leaf) { averager->on_done(leaf); });
    else
      loss.backward();
    if (o.measure_grad_norms) term.grad_norm = grad_delta_norm(params, before);
    terms.push_back(term);
    losses.push_back(loss);
  }
  if (queued) queued();
  for (size_t k = 0; k < terms.size(); ++k) {
    terms[k].loss = losses[k].data().item();
    if (!std::isfinite(terms[k].loss))
      throw NonFiniteLoss(cat("loss is ", std::isnan(terms[k].loss) ? "NaN" : terms[k].loss > 0 ? "+inf" : "-inf",
                              " in sub-network ", terms[k].subnet.width, "-",
                              terms[k].subnet.resolution, " (", loss_name(terms[k].loss_kind), ")"),
                          terms[k]);
  }
  if (averager) averager->finish();
  optimizer.set_lr(lr);
  optimizer.step();
  return terms;
}

}  // namespace mn
