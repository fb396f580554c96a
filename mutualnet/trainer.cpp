// The training run: setup (data first, so a missing dataset fails before anything is written),
// resume, the epoch loop around mutualnet_step, validation, metrics and checkpoints.
#include "mutualnet/trainer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>

#include "mutualnet/checkpoint.h"
#include "mutualnet/evaluate.h"
#include "mutualnet/experiment.h"
#include "io/files.h"
#include "mutualnet/flops.h"
#include "io/progress.h"
#include "mutualnet/train_step.h"
#include "nn/activation.h"
#include "nn/linear.h"

namespace mn {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Ctrl-C asks the loop to stop at the next batch boundary (it writes a checkpoint first); a
// second Ctrl-C falls back to the default action and ends the process at once.
std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
  g_interrupted = true;
  std::signal(SIGINT, SIG_DFL);
}

class SigintScope {
 public:
  SigintScope() {
    g_interrupted = false;
    previous_ = std::signal(SIGINT, on_sigint);
  }
  ~SigintScope() { std::signal(SIGINT, previous_); }

 private:
  void (*previous_)(int);
};

// The width/resolution sampler's seed: its own stream, apart from initialisation and data order.
uint64_t sampler_seed(const Config& c) { return static_cast<uint64_t>(c.seed) * 0x9E3779B97F4A7C15ull + 17; }

NamedTensors to_device(const NamedTensors& tensors, Device device) {
  NamedTensors out;
  for (const auto& [name, t] : tensors) out.emplace_back(name, t.to(device));
  return out;
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", x);
  return buf;
}

// Accumulates the losses of the steps between two metrics lines.
struct Interval {
  int64_t steps = 0, images = 0;
  double widest_loss = 0, subnet_loss = 0;
  Clock::time_point start = Clock::now();

  void add(const std::vector<StepTerm>& terms, int64_t batch) {
    ++steps;
    images += batch;
    widest_loss += terms[0].loss;
    double sub = 0;
    for (size_t k = 1; k < terms.size(); ++k) sub += terms[k].loss;
    if (terms.size() > 1) subnet_loss += sub / double(terms.size() - 1);
  }
};

// The random streams of the model's dropout modules, for an exact resume.
std::vector<std::pair<std::string, std::string>> dropout_rng(models::Model& model) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [name, module] : model.net->named_modules())
    if (auto* d = dynamic_cast<nn::Dropout*>(module)) out.emplace_back(name, d->generator().state());
  return out;
}

void restore_dropout_rng(models::Model& model, const std::vector<std::pair<std::string, std::string>>& saved,
                         const std::string& dir) {
  for (auto& [name, module] : model.net->named_modules()) {
    auto* d = dynamic_cast<nn::Dropout*>(module);
    if (!d) continue;
    auto it = std::find_if(saved.begin(), saved.end(), [&](const auto& s) { return s.first == name; });
    if (it != saved.end())
      d->generator().set_state(it->second);
    else
      MN_CHECK(d->p() == 0, "cannot resume ", dir, ": its checkpoint has no random state for the dropout module ",
               name, " (written by an older mn), so the run could not continue exactly");
  }
}

}  // namespace

TrainSummary train(const Config& c, const TrainOptions& o) {
  const std::string& dir = o.run_dir;
  const Device device = resolve_device(c);

  // Data first: a missing or malformed dataset stops here, before a run directory exists.
  auto train_set = open_dataset(c, data::Split::train);
  auto test_set = c.train.validate ? open_dataset(c, data::Split::test) : nullptr;
  std::unique_ptr<data::Loader> loader = train_loader(c, train_set);
  const std::vector<int64_t> r0_only{c.data.resolutions[0]};
  std::unique_ptr<data::Loader> calib, test;
  if (c.train.validate) {
    calib = calibration_loader(c, train_set, r0_only);
    test = eval_loader(c, test_set, r0_only);
  }
  const int64_t steps_per_epoch = loader->batches_per_epoch();
  const int64_t total_steps = c.train.epochs * steps_per_epoch;

  models::Model model = models::build_model(model_spec(c), static_cast<uint64_t>(c.seed));
  model.net->to(device);
  nn::Sgd optimizer = make_optimizer(c, model);
  const nn::LrSchedule schedule = lr_schedule(c, steps_per_epoch);
  const StepOptions step_options = StepOptions::from(c);
  Generator sampler(sampler_seed(c));

  TrainerState state;
  state.config_hash = config_hash(c);
  state.model = model.spec.name();
  const std::string metrics = dir + "/metrics.jsonl";
  if (o.resume) {
    MN_CHECK(path_exists(dir + "/config.toml"), "cannot resume ", dir, ": no config.toml there (not a run directory)");
    const Config original = load_config(dir + "/config.toml");
    const std::vector<std::string> diff = config_diff(original, c);
    MN_CHECK(diff.empty(), "cannot resume ", dir, ": the config differs from the run's in ", join(diff, ", "),
             " (resume with the run's own settings, or start a new run with --set name=NEW)");
    Checkpoint ckpt = load_checkpoint(dir + "/last");
    MN_CHECK(ckpt.state.config_hash == state.config_hash, "cannot resume ", dir, ": its checkpoint was written "
             "for config hash ", ckpt.state.config_hash, ", this config hashes to ", state.config_hash);
    model.net->load_state_dict(to_device(ckpt.model.tensors, device));
    optimizer.load_state_dict(to_device(ckpt.optimizer.tensors, device));
    state = ckpt.state;
    sampler.set_state(state.sampler_rng);
    restore_dropout_rng(model, state.dropout_rng, dir);
  } else {
    MN_CHECK(!checkpoint_exists(dir + "/last"), dir, " already holds a run; continue it with --resume ", dir,
             ", or start another with --set name=NEW (or delete ", dir, ")");
    make_dirs(dir);
    write_file_atomic(dir + "/config.toml", config_to_toml(c));
    write_file_atomic(metrics, "");
  }

  auto say = [&](const std::string& line) {
    if (o.quiet) return;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  if (o.resume)
    say(cat("resuming ", dir, " at step ", state.step, " (epoch ", state.epoch + 1, ", batch ", state.batch, ")"));
  say(cat("mn train: ", model.spec.name(), " on ", train_set->describe(), ", ", device.str(), ", ",
          c.train.epochs, " epochs x ", steps_per_epoch, " steps, widths [", c.mutualnet.width_min, ", ",
          c.mutualnet.width_max, "] + ", c.mutualnet.num_random_widths, " random, resolutions ",
          config_value(c, "data.resolutions"), " -> ", dir));

  TrainSummary summary;
  Progress progress(c.train.epochs, steps_per_epoch, c.train.log_every,
                    !o.quiet && Progress::stdout_is_tty());
  auto show = [&](const std::string& line) {
    if (!o.quiet) progress.message(line);
  };
  SigintScope sigint;
  const Clock::time_point session_start = Clock::now();
  const double seconds_before = state.train_seconds;
  int64_t session_images = 0;

  auto checkpoint_last = [&] {
    state.sampler_rng = sampler.state();
    state.dropout_rng = dropout_rng(model);
    state.train_seconds = seconds_before + seconds_since(session_start);
    save_checkpoint(dir + "/last", model.net->state_dict(), optimizer.state_dict(), state);
  };

  while (state.epoch < c.train.epochs) {
    loader->start_epoch(state.epoch, state.batch);
    Interval interval;
    while (true) {
      if (g_interrupted || (o.stop_after_steps >= 0 && state.step >= o.stop_after_steps)) {
        checkpoint_last();
        progress.finish();
        say(cat("interrupted at step ", state.step, " (epoch ", state.epoch + 1, ", batch ", state.batch,
                "); checkpoint written to ", dir, "/last. Continue with: mn train CONFIG --resume ", dir));
        summary.interrupted = true;
        summary.steps = state.step;
        summary.train_seconds = state.train_seconds;
        return summary;
      }
      std::optional<data::Batch> batch = loader->next();
      if (!batch) break;

      std::vector<Tensor> images;  // (N, C, R, R) per resolution, largest first
      for (const Tensor& t : batch->images) images.push_back(t.to(device));
      const Tensor labels = batch->labels.to(device);
      const std::vector<Subnet> subnets = sample_subnets(step_options, c.data.resolutions, sampler);
      const double lr = schedule.lr_at(state.step);
      std::vector<StepTerm> terms;
      try {
        terms = mutualnet_step(model, optimizer, images, c.data.resolutions, labels, subnets, step_options, lr);
      } catch (const NonFiniteLoss& e) {
        progress.finish();
        const std::string kept = checkpoint_exists(dir + "/last")
                                     ? cat("the last good checkpoint is ", dir, "/last")
                                     : std::string("no checkpoint had been written yet");
        fail("stopped at step ", state.step + 1, " (epoch ", state.epoch + 1, ", batch ", state.batch + 1,
             "): ", e.what(), "; the weights were not updated and ", kept,
             " (try a lower optim.lr, or optim.warmup_epochs)");
      }
      ++state.step;
      ++state.batch;
      session_images += batch->size();
      interval.add(terms, batch->size());
      summary.last_loss = terms[0].loss;

      const double rate = double(session_images) / std::max(1e-9, seconds_since(session_start));
      if (state.step % c.train.log_every == 0 || state.batch == steps_per_epoch) {
        Json line = Json::object();
        line.set("kind", "train");
        line.set("epoch", state.epoch + 1);
        line.set("step", state.step);
        line.set("lr", lr);
        line.set("loss", interval.widest_loss / double(interval.steps));
        line.set("subnet_loss", interval.subnet_loss / double(interval.steps));
        line.set("images_per_s", double(interval.images) / std::max(1e-9, seconds_since(interval.start)));
        line.set("time_s", seconds_before + seconds_since(session_start));
        append_line(metrics, line.dump());
        interval = Interval();
      }
      if (!o.quiet) progress.update(state.epoch, state.batch, state.step, total_steps, terms[0].loss, lr, rate);
    }

    const data::EpochReport report = loader->report();
    if (report.skipped > 0)
      show(cat("epoch ", state.epoch + 1, ": skipped ", report.skipped, " bad image(s), e.g. ",
               report.skipped_files.empty() ? std::string("?") : report.skipped_files[0]));
    ++state.epoch;
    state.batch = 0;

    bool improved = false;
    if (c.train.validate) {
      const Clock::time_point t0 = Clock::now();
      const std::vector<Subnet> points{{c.mutualnet.width_max, r0_only[0]}, {c.mutualnet.width_min, r0_only[0]}};
      const std::vector<EvalResult> val =
          evaluate_points(model, points, *calib, *test, c.train.bn_calib_batches, device);
      for (const EvalResult& r : val) {
        Json line = Json::object();
        line.set("kind", "val");
        line.set("epoch", state.epoch);
        line.set("step", state.step);
        line.set("width", r.width);
        line.set("resolution", r.resolution);
        line.set("top1", r.top1);
        line.set("top5", r.top5);
        line.set("loss", r.loss);
        append_line(metrics, line.dump());
      }
      summary.val_top1_max = val[0].top1;
      summary.val_top1_min = val[1].top1;
      show(cat("epoch ", state.epoch, "/", c.train.epochs, ": validation top-1 ", width_label(val[0].width), "-",
               val[0].resolution, " ", percent(val[0].top1), ", ", width_label(val[1].width), "-",
               val[1].resolution, " ", percent(val[1].top1), " (BN recalibrated; ",
               Progress::duration(seconds_since(t0)), ")"));
      improved = val[0].top1 > state.best_top1;
      if (improved) {
        state.best_top1 = val[0].top1;
        state.best_epoch = state.epoch;
      }
    }
    checkpoint_last();
    if (improved) save_checkpoint(dir + "/best", model.net->state_dict(), {}, state);
  }
  progress.finish();

  summary.steps = state.step;
  summary.epochs_done = state.epoch;
  summary.train_seconds = state.train_seconds;
  Json line = Json::object();
  line.set("kind", "summary");
  line.set("steps", state.step);
  line.set("train_seconds", state.train_seconds);
  line.set("val_top1_max", summary.val_top1_max);
  line.set("val_top1_min", summary.val_top1_min);
  append_line(metrics, line.dump());
  const double images_per_s = double(state.step * c.train.batch_size) / std::max(1e-9, state.train_seconds);
  say(cat("done: ", c.name, ", ", state.epoch, " epochs (", state.step, " steps) in ",
          Progress::duration(state.train_seconds), ", ", static_cast<int64_t>(images_per_s), " img/s",
          summary.val_top1_max >= 0
              ? cat("; validation top-1 ", width_label(c.mutualnet.width_max), "-", r0_only[0], " ",
                    percent(summary.val_top1_max), ", ", width_label(c.mutualnet.width_min), "-", r0_only[0], " ",
                    percent(summary.val_top1_min))
              : std::string(),
          "; checkpoint", path_exists(dir + "/best") ? cat("s in ", dir, "/last and ", dir, "/best") : cat(" in ", dir, "/last"),
          "; next: mn sweep ", dir));
  return summary;
}

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

double params_norm_change(const std::vector<Tensor>& before, const std::vector<Variable>& params) {
  double sq = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    std::vector<float> now = params[i].data().to(DType::f32).to_vector<float>();
    std::vector<float> was = before[i].to(DType::f32).to_vector<float>();
    for (size_t j = 0; j < now.size(); ++j) sq += (double(now[j]) - was[j]) * (double(now[j]) - was[j]);
  }
  return std::sqrt(sq);
}

}  // namespace

void explain_step(const Config& c) {
  const Device device = resolve_device(c);
  auto train_set = open_dataset(c, data::Split::train);
  std::unique_ptr<data::Loader> loader = train_loader(c, train_set);
  models::Model model = models::build_model(model_spec(c), static_cast<uint64_t>(c.seed));
  model.net->to(device);
  nn::Sgd optimizer = make_optimizer(c, model);
  const nn::LrSchedule schedule = lr_schedule(c, loader->batches_per_epoch());
  StepOptions step_options = StepOptions::from(c);
  step_options.measure_grad_norms = true;
  Generator sampler(sampler_seed(c));

  loader->start_epoch(0);
  std::optional<data::Batch> batch = loader->next();
  MN_CHECK(batch.has_value(), "explain: the training loader gave no batch");
  std::vector<Tensor> images;
  for (const Tensor& t : batch->images) images.push_back(t.to(device));
  const std::vector<Subnet> subnets = sample_subnets(step_options, c.data.resolutions, sampler);
  const double lr = schedule.lr_at(0);

  std::printf("One MutualNet step of %s on %s (%lld images per batch, %s), as mn train runs it.\n",
              model.spec.name().c_str(), train_set->describe().c_str(),
              static_cast<long long>(batch->size()), device.str().c_str());
  std::printf("Data: the loader (data/loader.cpp) decodes and augments the batch at %lld px and "
              "downscales it to %s.\n", static_cast<long long>(c.data.resolutions[0]),
              config_value(c, "data.resolutions").c_str());
  std::printf("Step (mutualnet/train_step.cpp, mutualnet_step): each sub-network runs forward and "
              "backward; gradients add up in the shared weights.\n\n");

  const std::vector<Variable> params = model.net->parameters();
  std::vector<Tensor> before;
  for (const Variable& p : params) before.push_back(p.data().clone());
  const std::vector<StepTerm> terms =
      mutualnet_step(model, optimizer, images, c.data.resolutions, batch->labels.to(device), subnets, step_options, lr);

  std::printf("  %s  %-11s  %-5s  %-10s  %-37s %7s  %-20s  %s\n", "#", "sub-network", "width", "resolution",
              "channels@size per stage", "MFLOPs", "loss term", "gradient norm");
  for (size_t k = 0; k < terms.size(); ++k) {
    const Subnet& s = terms[k].subnet;
    const char* role = k == 0 ? "widest" : s.width == c.mutualnet.width_min ? "narrowest" : "random";
    const SubnetCost cost = subnet_cost(model, s.width, s.resolution);
    std::string res = cat(s.resolution, "x", s.resolution);
    std::string loss = cat(terms[k].loss_kind == "kl" ? "KL " : "CE ", terms[k].loss);
    std::printf("  %zu  %-11s  %.3f  %-10s  %-37s %7.2f  %-20s  %.4f\n", k + 1, role, s.width, res.c_str(),
                stage_channels(model, s.width, s.resolution).c_str(), cost.mflops(), loss.c_str(),
                terms[k].grad_norm);
  }
  double grad_sq = 0;
  for (const Variable& p : params) {
    if (!p.grad().defined()) continue;
    for (float g : p.grad().to(DType::f32).to_vector<float>()) grad_sq += double(g) * g;
  }
  std::printf("\nSum of the %zu terms' gradients (what SGD sees): L2 norm %.4f.\n", terms.size(), std::sqrt(grad_sq));
  std::printf("SGD (nn/optim.cpp, Sgd::step): lr %.4g (%s schedule, iteration 0 of %lld), momentum %.3g%s, "
              "weight decay %.3g -> the weights moved by %.4g (L2).\n",
              lr, c.optim.schedule.c_str(), static_cast<long long>(schedule.total_iters), c.optim.momentum,
              c.optim.nesterov ? " (Nesterov)" : "", c.optim.weight_decay, params_norm_change(before, params));
  std::printf("Read it in order: docs/walkthrough.md.\n");
}

}  // namespace mn
