// What a run directory survives, each with a one-line error and nothing lost: a disk too full for
// the next checkpoint (the previous one resumes), a second `mn train` or an `mn sweep` on it, a
// damaged checkpoint and a training set that changed between the run and its resume.
#include <doctest/doctest.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "data/dataset.h"
#include "io/files.h"
#include "mutualnet/checkpoint.h"
#include "mutualnet/config.h"
#include "mutualnet/trainer.h"
#include "tests/common/test_util.h"
#include "tests/mutualnet/spawn_mn.h"

using namespace mn;
namespace fs = std::filesystem;
using test::error_of;
using test::TempDir;

namespace {

// 2 epochs of 8 steps with a checkpoint every 2 steps, no validation (speed).
const char* kConfig = R"(
device = "cpu"
seed = 1995
[model]
depth = 10
widen = 1
[data]
workers = 1
train_limit = 128
[train]
epochs = 2
batch_size = 16
checkpoint_every = 2
validate = false
)";

// Trains `run` in this process up to `steps` steps (as a Ctrl-C there would stop it).
void train_until(const Config& c, const std::string& run, int64_t steps, bool resume = false) {
  TrainOptions o;
  o.run_dir = run;
  o.quiet = true;
  o.resume = resume;
  o.stop_after_steps = steps;
  REQUIRE(train(c, o).steps == steps);
}

TrainSummary resume(const Config& c, const std::string& run) {
  TrainOptions o;
  o.run_dir = run;
  o.quiet = true;
  o.resume = true;
  return train(c, o);
}

// Every file of a directory tree with its bytes, to show that a refusal changed nothing.
std::map<std::string, std::string> contents(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[e.path().string()] = read_file(e.path().string());
  return out;
}

}  // namespace

TEST_CASE("disk full: the run stops naming the file it could not write; the previous checkpoint resumes") {
  const TempDir dir("mn_disk_full");
  const Config c = parse_config(kConfig, "full.toml");
  const std::string run = dir.file("runs/full");
  train_until(c, run, 3);
  const uint64_t model_bytes = file_checksum(run + "/last/model.safetensors").bytes;

  // Files may grow to half a model: the run resumes, trains step 4 and fails at its checkpoint.
  const pid_t pid = test::spawn_mn(dir.path, {"train", "--resume", "runs/full"},
                                   {.stderr_path = dir.file("stderr"), .file_size_limit = model_bytes / 2});
  CHECK(test::wait_mn(pid) == 1);
  const std::string err = read_file(dir.file("stderr"));
  CHECK(err.find('\n') == err.size() - 1);  // one line
  CHECK(err.rfind("mn train: cannot write the checkpoint runs/full/last: writing runs/full/last.tmp/model.safetensors", 0) == 0);
  CHECK(err.find("failed: File too large; the previous checkpoint there is kept\n") != std::string::npos);
  CHECK_FALSE(fs::exists(run + "/last.tmp"));  // its space is given back

  CHECK(load_checkpoint(run + "/last").state.step == 3);
  const TrainSummary rest = resume(c, run);
  CHECK(rest.steps == 16);
  CHECK_FALSE(rest.interrupted);
}

TEST_CASE("a second mn train on a run directory in use is refused, naming the directory and the holder") {
  const TempDir dir("mn_run_lock");
  const Config c = parse_config(kConfig, "lock.toml", {"train.epochs=1000"});
  write_file_atomic(dir.file("lock.toml"), config_to_toml(c));
  const std::string run = dir.file("runs/lock"), lock = run + "/lock";
  const pid_t pid = test::spawn_mn(dir.path, {"train", "lock.toml"});
  // Its lock is taken before its config.toml is written.
  for (int i = 0; i < 600 && !path_exists(run + "/config.toml"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(path_exists(run + "/config.toml"));

  const std::string in_use = run + " is in use: another mn process (pid " + std::to_string(pid) + ") holds " + lock +
                             "; wait for it to finish or stop it first";
  TrainOptions o;
  o.run_dir = run;
  o.quiet = true;
  CHECK(error_of([&] { train(c, o); }) == in_use);
  o.resume = true;
  CHECK(error_of([&] { train(c, o); }) == in_use);

  // The lock goes with its process, however it ends.
  kill(pid, SIGKILL);
  CHECK(test::wait_mn(pid) == -1);
  FileLock free;
  CHECK(free.try_lock(lock));
}

TEST_CASE("mn sweep takes the run directory's lock: a sweep and a train on one directory refuse each other") {
  const TempDir dir("mn_sweep_lock");
  const Config c = parse_config(kConfig, "sweep.toml");
  const std::string run = dir.file("runs/sweep"), lock = run + "/lock";
  train_until(c, run, 2);
  // `mn` names the directory as given on its command line, relative to where it runs.
  auto in_use = [](const std::string& run_dir, pid_t holder) {
    return run_dir + " is in use: another mn process (pid " + std::to_string(holder) + ") holds " + run_dir +
           "/lock; wait for it to finish or stop it first";
  };

  // A training run holds it (this process, as its trainer would): the sweep is refused.
  {
    FileLock training;
    lock_run_dir(training, run);
    const pid_t pid = test::spawn_mn(dir.path, {"sweep", "runs/sweep"}, {.stderr_path = dir.file("stderr")});
    CHECK(test::wait_mn(pid) == 1);
    CHECK(read_file(dir.file("stderr")) == "mn sweep: " + in_use("runs/sweep", ::getpid()) + "\n");
  }

  // A sweep holds it (a grid long enough to still run when checked): training is refused.
  const pid_t pid = test::spawn_mn(dir.path, {"sweep", "runs/sweep", "--widths", "0.25:1.0:0.01"});
  const std::string holder = std::to_string(pid) + "\n";
  for (int i = 0; i < 6000 && read_file(lock) != holder; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(read_file(lock) == holder);
  CHECK(error_of([&] { resume(c, run); }) == in_use(run, pid));
  kill(pid, SIGKILL);
  CHECK(test::wait_mn(pid) == -1);
}

TEST_CASE("a damaged checkpoint is refused on resume, naming the file, and left as it was") {
  const TempDir dir("mn_run_damaged", false);
  const Config c = parse_config(kConfig, "damaged.toml");
  train_until(c, dir.path, 3);
  const std::string model = dir.path + "/last/model.safetensors", good = read_file(model);
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x01;
  write_file_atomic(model, flipped);
  const auto before = contents(dir.path);
  CHECK(error_of([&] { resume(c, dir.path); }).rfind(model + " is damaged: CRC-32 ", 0) == 0);
  CHECK(contents(dir.path) == before);

  const std::string trainer = dir.path + "/last/trainer.json", json = read_file(trainer);
  write_file_atomic(model, good);
  write_file_atomic(trainer, json.substr(0, json.size() / 2));
  CHECK(error_of([&] { resume(c, dir.path); }).rfind(trainer + " is damaged: ", 0) == 0);
  write_file_atomic(trainer, json);
  CHECK(resume(c, dir.path).steps == 16);
}

TEST_CASE("a training set that changed since the run started is refused on resume, naming the change") {
  // Fashion-MNIST through links, so that one file can be swapped for an edited copy.
  const TempDir data("mn_run_data"), runs("mn_run_changed", false);
  const std::string fm = "/usr/share/datasets/fashion-mnist";
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz"})
    fs::create_symlink(fm + "/" + f, data.file(f));
  const Config c = parse_config(kConfig, "changed.toml", {"data.root=" + data.path});
  train_until(c, runs.path, 3);

  // The first image's label, plain IDX in place of the gzipped original.
  std::vector<uint8_t> labels;
  {
    gzFile f = gzopen((fm + "/train-labels-idx1-ubyte.gz").c_str(), "rb");
    REQUIRE(f);
    uint8_t chunk[1 << 16];
    for (int n; (n = gzread(f, chunk, sizeof chunk)) > 0;) labels.insert(labels.end(), chunk, chunk + n);
    gzclose(f);
  }
  REQUIRE(labels.size() == 60008);
  labels[8] = uint8_t((labels[8] + 1) % 10);
  fs::remove(data.file("train-labels-idx1-ubyte.gz"));
  write_file_atomic(data.file("train-labels-idx1-ubyte"), std::string(labels.begin(), labels.end()));

  const auto now = data::make_dataset({.root = data.path, .limit = 128});
  const uint32_t before = load_checkpoint(runs.path + "/last").state.train_data.crc32;
  const uint32_t after = data::fingerprint(*now).crc32;
  CHECK(error_of([&] { resume(c, runs.path); }) ==
        "cannot resume " + runs.path + ": its training set, " + now->describe() +
            ", changed since the run started: as many images and classes, but other file names, pixels or labels "
            "(CRC-32 " + hex32(before) + " -> " + hex32(after) + "); the run's data order and position would not hold");

  // Put back, the run continues.
  fs::remove(data.file("train-labels-idx1-ubyte"));
  fs::create_symlink(fm + "/train-labels-idx1-ubyte.gz", data.file("train-labels-idx1-ubyte.gz"));
  CHECK(resume(c, runs.path).steps == 16);
}
