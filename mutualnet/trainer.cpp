// The training run: the experiment (data first, so a missing dataset fails before anything is
// written), a new or resumed run directory, then epochs of MutualNet steps, each epoch ending
// with validation and checkpoints. train() at the bottom reads top-down.
#include "mutualnet/trainer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>

#include "io/files.h"
#include "io/json.h"
#include "io/progress.h"
#include "mutualnet/checkpoint.h"
#include "mutualnet/experiment.h"
#include "nn/activation.h"

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

// The losses of the steps between two metrics lines.
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
    const std::string& key = name;  // clang before 16 (make fuzz) cannot capture a structured binding
    auto it = std::find_if(saved.begin(), saved.end(), [&](const auto& s) { return s.first == key; });
    if (it != saved.end())
      d->generator().set_state(it->second);
    else
      MN_CHECK(d->p() == 0, "cannot resume ", dir, ": its checkpoint has no random state for the dropout module ",
               name, " (written by an older mn), so the run could not continue exactly");
  }
}

// runs/<name>/metrics.jsonl: one object per logging interval ("train"), per validated point
// ("val") and at the end ("summary"). Only rank 0 writes it (`enabled`).
class MetricsLog {
 public:
  MetricsLog(std::string path, bool enabled) : path_(std::move(path)), enabled_(enabled) {}
  void start() {
    if (enabled_) write_file_atomic(path_, "");
  }

  void train(const TrainerState& s, double lr, const Interval& interval, double time_s) {
    append(Json::object({{"kind", "train"},
                         {"epoch", s.epoch + 1},
                         {"step", s.step},
                         {"lr", lr},
                         {"loss", interval.widest_loss / double(interval.steps)},
                         {"subnet_loss", interval.subnet_loss / double(interval.steps)},
                         {"images_per_s", double(interval.images) / std::max(1e-9, seconds_since(interval.start))},
                         {"time_s", time_s}}));
  }

  void val(const TrainerState& s, const EvalResult& r) {
    append(Json::object({{"kind", "val"},
                         {"epoch", s.epoch},
                         {"step", s.step},
                         {"width", r.width},
                         {"resolution", r.resolution},
                         {"top1", r.top1},
                         {"top5", r.top5},
                         {"loss", r.loss}}));
  }

  void summary(const TrainerState& s, const TrainSummary& sum) {
    append(Json::object({{"kind", "summary"},
                         {"steps", s.step},
                         {"train_seconds", s.train_seconds},
                         {"val_top1_max", sum.val_top1_max},
                         {"val_top1_min", sum.val_top1_min}}));
  }

 private:
  void append(const Json& line) {
    if (enabled_) append_line(path_, line.dump());
  }

  std::string path_;
  bool enabled_;
};

// One `mn train` invocation: the experiment, its run directory and the loop's state. With several
// ranks, every rank runs it in step; rank 0 alone writes the run directory.
class Run {
 public:
  Run(const Config& c, const TrainOptions& o)
      : ex_(c, {.train_data = true,
                .eval_resolutions = c.train.validate ? std::vector<int64_t>{c.data.resolutions[0]}
                                                     : std::vector<int64_t>{},
                .optimizer = true}),
        c_(ex_.config),
        o_(o),
        dir_(o.run_dir),
        writer_(ex_.comm.rank() == 0),
        metrics_(dir_ + "/metrics.jsonl", writer_),
        steps_per_epoch_(ex_.train_loader->batches_per_epoch()),
        // Several ranks: plain lines, because mpirun gives its ranks a terminal even when its own
        // output goes to a log file.
        progress_(c_.train.epochs, steps_per_epoch_, c_.train.log_every,
                  !o.quiet && Progress::stdout_is_tty() && ex_.comm.size() == 1) {
    state_.config_hash = config_hash(c_);
    state_.model = ex_.model.spec.name();
    state_.train_data = data::fingerprint(*ex_.train_set);
    if (o.resume)
      resume();
    else
      create_run_dir();
    announce();
    seconds_before_ = state_.train_seconds;
    session_start_ = Clock::now();
  }

  bool done() const { return state_.epoch >= c_.train.epochs; }

  // Trains the rest of the current epoch; false when interrupted (a checkpoint is written).
  bool train_epoch() {
    ex_.train_loader->start_epoch(state_.epoch, state_.batch);
    interval_ = Interval();
    while (true) {
      // Every rank stops at the same step, whichever rank saw Ctrl-C.
      if (ex_.comm.any(g_interrupted) || (o_.stop_after_steps >= 0 && state_.step >= o_.stop_after_steps))
        return false;
      std::optional<data::Batch> batch = ex_.train_loader->next();
      if (!batch) return true;
      train_step(*batch);
    }
  }

  // The skipped-image report, validation of the widest and narrowest networks, checkpoints.
  void end_epoch() {
    const data::EpochReport report = ex_.train_loader->report();
    if (report.skipped > 0)
      show(cat("epoch ", state_.epoch + 1, ": skipped ", report.skipped, " bad image(s), e.g. ",
               report.skipped_files.empty() ? std::string("?") : report.skipped_files[0]));
    ++state_.epoch;
    state_.batch = 0;
    const bool improved = c_.train.validate && validate();
    checkpoint_last();
    if (improved && writer_) save_checkpoint(dir_ + "/best", ex_.model.net->state_dict(), {}, state_);
  }

  TrainSummary stop_interrupted() {
    checkpoint_last();
    ex_.comm.barrier();  // no rank returns before the checkpoint is on disk
    progress_.finish();
    say(cat("interrupted at step ", state_.step, " (epoch ", state_.epoch + 1, ", batch ", state_.batch,
            "); checkpoint written to ", dir_, "/last. Continue with: mn train CONFIG --resume ", dir_));
    summary_.interrupted = true;
    summary_.steps = state_.step;
    summary_.train_seconds = state_.train_seconds;
    return summary_;
  }

  TrainSummary finish() {
    progress_.finish();
    summary_.steps = state_.step;
    summary_.epochs_done = state_.epoch;
    summary_.train_seconds = state_.train_seconds;
    metrics_.summary(state_, summary_);
    ex_.comm.barrier();
    say_done();
    return summary_;
  }

 private:
  void resume() {
    MN_CHECK(path_exists(dir_ + "/config.toml"), "cannot resume ", dir_, ": no config.toml there (not a run directory)");
    if (writer_) lock_run_dir(lock_, dir_);
    const std::vector<std::string> diff = config_diff(load_config(dir_ + "/config.toml"), c_);
    MN_CHECK(diff.empty(), "cannot resume ", dir_, ": the config differs from the run's in ", join(diff, ", "),
             " (resume with the run's own settings, or start a new run with --set name=NEW)");
    Checkpoint ckpt = load_checkpoint(dir_ + "/last");
    MN_CHECK(ckpt.state.config_hash == state_.config_hash, "cannot resume ", dir_, ": its checkpoint was written "
             "for config hash ", ckpt.state.config_hash, ", this config hashes to ", state_.config_hash);
    // Checkpoints from before fingerprints were recorded (images = 0) cannot tell.
    const std::string changed = ckpt.state.train_data.images == 0
                                    ? std::string()
                                    : data::fingerprint_change(ckpt.state.train_data, state_.train_data);
    MN_CHECK(changed.empty(), "cannot resume ", dir_, ": its training set, ", ex_.train_set->describe(),
             ", changed since the run started: ", changed, "; the run's data order and position would not hold");
    ex_.model.net->load_state_dict(on_device(ckpt.model.tensors));
    ex_.optimizer->load_state_dict(on_device(ckpt.optimizer.tensors));
    const data::Fingerprint train_data = state_.train_data;
    state_ = ckpt.state;
    state_.train_data = train_data;  // the same, or first recorded now for an older checkpoint
    ex_.sampler.set_state(state_.sampler_rng);
    restore_dropout_rng(ex_.model, state_.dropout_rng, dir_);
  }

  void create_run_dir() {
    if (writer_) make_dirs(dir_);
    if (writer_) lock_run_dir(lock_, dir_);
    MN_CHECK(!checkpoint_exists(dir_ + "/last"), dir_, " already holds a run; continue it with --resume ", dir_,
             ", or start another with --set name=NEW (or delete ", dir_, ")");
    if (!writer_) return;
    write_file_atomic(dir_ + "/config.toml", config_to_toml(c_));
    metrics_.start();
  }

  NamedTensors on_device(const NamedTensors& tensors) const {
    NamedTensors out;
    for (const auto& [name, t] : tensors) out.emplace_back(name, t.to(ex_.device));
    return out;
  }

  void announce() {
    if (o_.resume)
      say(cat("resuming ", dir_, " at step ", state_.step, " (epoch ", state_.epoch + 1, ", batch ", state_.batch, ")"));
    say(cat("mn train: ", ex_.model.spec.name(), " on ", ex_.train_set->describe(), ", ", ex_.device.str(), ", ",
            c_.train.epochs, " epochs x ", steps_per_epoch_, " steps, widths [", c_.mutualnet.width_min, ", ",
            c_.mutualnet.width_max, "] + ", c_.mutualnet.num_random_widths, " random, resolutions ",
            config_value(c_, "data.resolutions"), processes(), " -> ", dir_));
  }

  std::string processes() const {
    const int n = ex_.comm.size();
    return n == 1 ? "" : cat(", ", n, " processes x ", c_.train.batch_size / n, " images per step");
  }

  // One MutualNet step (train_step.h) on the batch, then the metrics line and the progress bar.
  void train_step(const data::Batch& batch) {
    const std::vector<Subnet> subnets = sample_subnets(ex_.step_options, c_.data.resolutions, ex_.sampler);
    const double lr = ex_.schedule.lr_at(state_.step);
    std::vector<StepTerm> terms;
    try {
      terms = mutualnet_step(ex_.model, *ex_.optimizer, images_on(batch, ex_.device), c_.data.resolutions,
                             batch.labels.to(ex_.device), subnets, ex_.step_options, lr, &ex_.device_comm,
                             [&] { ex_.train_loader->prefetch(); });
    } catch (const NonFiniteLoss& e) {
      progress_.finish();
      const std::string kept = checkpoint_exists(dir_ + "/last") ? cat("the last good checkpoint is ", dir_, "/last")
                                                                 : std::string("no checkpoint had been written yet");
      fail("stopped at step ", state_.step + 1, " (epoch ", state_.epoch + 1, ", batch ", state_.batch + 1, "): ",
           e.what(), "; the weights were not updated and ", kept, " (try a lower optim.lr, or optim.warmup_epochs)");
    }
    ++state_.step;
    ++state_.batch;
    // Images per second of all ranks: every rank trains an equal shard.
    session_images_ += batch.size() * ex_.comm.size();
    interval_.add(terms, batch.size() * ex_.comm.size());
    summary_.last_loss = terms[0].loss;
    if (state_.step % c_.train.log_every == 0 || state_.batch == steps_per_epoch_) {
      metrics_.train(state_, lr, interval_, seconds_before_ + seconds_since(session_start_));
      interval_ = Interval();
    }
    // A killed run resumes from here, bitwise as if uninterrupted; the epoch's end writes its own.
    const int64_t every = c_.train.checkpoint_every;
    if (every > 0 && state_.step % every == 0 && state_.batch < steps_per_epoch_) checkpoint_last();
    const double rate = double(session_images_) / std::max(1e-9, seconds_since(session_start_));
    if (!o_.quiet)
      progress_.update(state_.epoch, state_.batch, state_.step, c_.train.epochs * steps_per_epoch_, terms[0].loss,
                       lr, rate);
  }

  // BN-recalibrated validation at R0; true when the widest network improved on the best so far.
  bool validate() {
    const Clock::time_point t0 = Clock::now();
    const int64_t r0 = c_.data.resolutions[0];
    const std::vector<EvalResult> val = ex_.evaluate({{c_.mutualnet.width_max, r0}, {c_.mutualnet.width_min, r0}});
    for (const EvalResult& r : val) metrics_.val(state_, r);
    summary_.val_top1_max = val[0].top1;
    summary_.val_top1_min = val[1].top1;
    show(cat("epoch ", state_.epoch, "/", c_.train.epochs, ": validation top-1 ", point_top1(val[0]), ", ",
             point_top1(val[1]), " (BN recalibrated; ", Progress::duration(seconds_since(t0)), ")"));
    if (val[0].top1 <= state_.best_top1) return false;
    state_.best_top1 = val[0].top1;
    state_.best_epoch = state_.epoch;
    return true;
  }

  static std::string point_top1(const EvalResult& r) {
    return cat(width_label(r.width), "-", r.resolution, " ", percent(r.top1));
  }

  void checkpoint_last() {
    state_.sampler_rng = ex_.sampler.state();
    state_.dropout_rng = dropout_rng(ex_.model);
    state_.train_seconds = seconds_before_ + seconds_since(session_start_);
    if (writer_) save_checkpoint(dir_ + "/last", ex_.model.net->state_dict(), ex_.optimizer->state_dict(), state_);
  }

  void say_done() {
    const int64_t r0 = c_.data.resolutions[0];
    const double images_per_s = double(state_.step * c_.train.batch_size) / std::max(1e-9, state_.train_seconds);
    const std::string validation =
        summary_.val_top1_max < 0
            ? std::string()
            : cat("; validation top-1 ", point_top1({.width = c_.mutualnet.width_max, .resolution = r0,
                                                      .top1 = summary_.val_top1_max}),
                  ", ", point_top1({.width = c_.mutualnet.width_min, .resolution = r0, .top1 = summary_.val_top1_min}));
    const std::string where = path_exists(dir_ + "/best") ? cat("s in ", dir_, "/last and ", dir_, "/best")
                                                          : cat(" in ", dir_, "/last");
    say(cat("done: ", c_.name, ", ", state_.epoch, " epochs (", state_.step, " steps) in ",
            Progress::duration(state_.train_seconds), ", ", static_cast<int64_t>(images_per_s), " img/s", validation,
            "; checkpoint", where, "; next: mn sweep ", dir_));
  }

  void say(const std::string& line) const {
    if (o_.quiet) return;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
  void show(const std::string& line) {
    if (!o_.quiet) progress_.message(line);
  }

  Experiment ex_;
  // The run directory's, held until this process ends so that a second `mn train` or an `mn sweep`
  // cannot interleave its files with ours. Rank 0, the one that writes, holds it for the job.
  FileLock lock_;
  const Config& c_;
  const TrainOptions& o_;
  const std::string dir_;
  const bool writer_;  // rank 0
  MetricsLog metrics_;
  const int64_t steps_per_epoch_;
  Progress progress_;
  TrainerState state_;
  TrainSummary summary_;
  Interval interval_;
  Clock::time_point session_start_;
  double seconds_before_ = 0;  // training time of earlier sessions of a resumed run
  int64_t session_images_ = 0;
};

}  // namespace

TrainSummary train(const Config& c, const TrainOptions& o) {
  Run run(c, o);
  SigintScope sigint;
  while (!run.done()) {
    if (!run.train_epoch()) return run.stop_interrupted();
    run.end_epoch();
  }
  return run.finish();
}

}  // namespace mn
