// Point evaluation with per-point BN recalibration, and the grid helpers of `mn sweep`.
#include "mutualnet/evaluate.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "autograd/functions.h"
#include "mutualnet/bn_calibration.h"
#include "mutualnet/flops.h"

namespace mn {

namespace {

// Adds the batch's correct top-1 / top-5 counts and summed cross-entropy from logits (N, K).
void score(const Tensor& logits, const Tensor& labels, EvalResult& r) {
  const int64_t n = logits.size(0), k = logits.size(1);
  std::vector<float> z = logits.to(Device::cpu()).contiguous().to_vector<float>();
  std::vector<int64_t> y = labels.to_vector<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = z.data() + i * k;
    const float target = row[y[i]];
    int64_t above = 0;  // classes scored higher than the label (ties count for the label)
    double mx = row[0];
    for (int64_t j = 0; j < k; ++j) {
      above += row[j] > target;
      mx = std::max<double>(mx, row[j]);
    }
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += std::exp(double(row[j]) - mx);
    r.loss += std::log(sum) + mx - target;
    r.top1 += above < 1;
    r.top5 += above < 5;
  }
  r.images += n;
}

}  // namespace

std::vector<EvalResult> evaluate_points(models::Model& model, const std::vector<Subnet>& points,
                                        data::Loader& calib, data::Loader& test,
                                        int64_t calib_batches, Device device,
                                        const std::function<void(size_t)>& on_point,
                                        dist::Communicator* comm) {
  const bool was_training = model.net->is_training();
  const double was_width = model.width->get();
  std::vector<BnStats> stats;
  for (size_t i = 0; i < points.size(); ++i) {
    // No calibration batches: the statistics stored with the weights are already the point's
    // (an exported sub-network).
    if (calib_batches > 0)
      recalibrate_bn(model, points[i].width, points[i].resolution, calib, calib_batches, device, comm);
    stats.push_back(save_bn_stats(model));
    if (on_point) on_point(i);
  }

  std::vector<EvalResult> results(points.size());
  for (size_t i = 0; i < points.size(); ++i) results[i].width = points[i].width, results[i].resolution = points[i].resolution;
  NoGradGuard no_grad;
  model.net->eval();
  test.start_epoch(0);
  while (std::optional<data::Batch> batch = test.next()) {
    std::vector<Tensor> on_device;  // per resolution of the batch, moved once
    for (const Tensor& t : batch->images) on_device.push_back(t.to(device));
    for (size_t i = 0; i < points.size(); ++i) {
      load_bn_stats(model, stats[i]);
      model.width->set(points[i].width);
      size_t k = 0;
      while (k < batch->resolutions.size() && batch->resolutions[k] != points[i].resolution) ++k;
      MN_CHECK(k < batch->resolutions.size(), "evaluate: the test batches have no images at ", points[i].resolution);
      score(model(Variable(on_device[k])).data(), batch->labels, results[i]);
    }
  }
  if (comm && comm->size() > 1) {
    // Counts stay exact in float32 up to 2^24 images.
    std::vector<float> sums;
    for (const EvalResult& r : results)
      sums.insert(sums.end(), {float(r.top1), float(r.top5), float(r.loss), float(r.images)});
    const Tensor t = Tensor::from_vector(sums, {int64_t(sums.size())});
    comm->all_reduce_sum(t);
    const float* s = t.data<float>();
    for (size_t i = 0; i < results.size(); ++i, s += 4)
      results[i].top1 = s[0], results[i].top5 = s[1], results[i].loss = s[2], results[i].images = int64_t(s[3]);
  }
  for (EvalResult& r : results) {
    MN_CHECK(r.images > 0, "evaluate: the test set is empty");
    r.top1 *= 100.0 / double(r.images);
    r.top5 *= 100.0 / double(r.images);
    r.loss /= double(r.images);
  }
  model.width->set(was_width);
  model.net->train(was_training);
  return results;
}

std::vector<SweepPoint> with_costs(models::Model& model, const std::vector<EvalResult>& results) {
  std::vector<SweepPoint> out;
  for (const EvalResult& r : results) {
    SubnetCost cost = subnet_cost(model, r.width, r.resolution);
    SweepPoint p;
    p.width = r.width;
    p.resolution = r.resolution;
    p.mflops = cost.mflops();
    p.params_m = double(cost.params) / 1e6;
    p.top1 = r.top1;
    p.top5 = r.top5;
    out.push_back(p);
  }
  return out;
}

std::vector<double> parse_widths(const std::string& s) {
  std::vector<double> out;
  auto number = [&](const std::string& t) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(t, &used);
    } catch (...) {
      used = 0;
    }
    MN_CHECK(used == t.size() && !t.empty(), "--widths: '", t, "' is not a number (expected e.g. 0.25:1.0:0.05 or 1,0.75,0.5)");
    return v;
  };
  if (s.find(':') != std::string::npos) {
    std::vector<std::string> parts;
    std::stringstream ss(s);
    for (std::string p; std::getline(ss, p, ':');) parts.push_back(p);
    MN_CHECK(parts.size() == 3, "--widths: expected start:stop:step, got '", s, "'");
    double a = number(parts[0]), b = number(parts[1]), step = number(parts[2]);
    MN_CHECK(step > 0 && a > 0 && b > 0, "--widths: start, stop and step must be positive in '", s, "'");
    double lo = std::min(a, b), hi = std::max(a, b);
    // Counted in steps from the top so 1.0, 0.95, ... are exact to the printed digits.
    for (int64_t i = 0; hi - i * step >= lo - 1e-9; ++i) out.push_back(std::round((hi - i * step) * 1e6) / 1e6);
  } else {
    std::stringstream ss(s);
    for (std::string p; std::getline(ss, p, ',');) out.push_back(number(p));
    std::sort(out.begin(), out.end(), std::greater<>());
  }
  MN_CHECK(!out.empty(), "--widths: no widths in '", s, "'");
  for (double w : out) MN_CHECK(w > 0 && w <= 1, "--widths: width ", w, " is outside (0, 1]");
  return out;
}

std::vector<int64_t> parse_resolutions(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  for (std::string p; std::getline(ss, p, ',');) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(p, &used);
    } catch (...) {
      used = 0;
    }
    MN_CHECK(used == p.size() && !p.empty() && v > 0, "--resolutions: '", p, "' is not a positive integer (expected e.g. 28,24,20,16)");
    out.push_back(v);
  }
  MN_CHECK(!out.empty(), "--resolutions: no resolutions in '", s, "'");
  std::sort(out.begin(), out.end(), std::greater<>());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace mn
