// Whole training runs on a few hundred Fashion-MNIST images (Debian's dataset-fashion-mnist):
// the loss falls well below chance within seconds; a run interrupted and resumed ends bitwise
// equal to an uninterrupted one; resuming with a different config is refused, naming the keys.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "data/device_loader.h"
#include "mutualnet/checkpoint.h"
#include "mutualnet/config.h"
#include "io/files.h"
#include "io/json.h"
#include "mutualnet/experiment.h"
#include "mutualnet/trainer.h"
#include "tests/common/test_util.h"

using namespace mn;
namespace fs = std::filesystem;

namespace {

const char* kTiny = R"(
device = "cpu"
seed = 1995
[model]
depth = 10
widen = 1
[data]
workers = 1
[train]
log_every = 4
eval_batch_size = 100
bn_calib_batches = 2
)";

std::vector<Json> metrics_of(const std::string& run) {
  std::vector<Json> out;
  std::stringstream ss(read_file(run + "/metrics.jsonl"));
  for (std::string line; std::getline(ss, line);) out.push_back(Json::parse(line, "metrics.jsonl"));
  return out;
}

}  // namespace

using test::error_of;
using test::TempDir;

TEST_CASE("train run: a few hundred images bring the loss well below chance") {
  const TempDir run("mn_train_e2e", false);
  // 256 images seen 20 times without augmentation (160 steps). Over seeds 1995-2004 the widest
  // network ends at 64-71% top-1 on the 200 test images and a logged loss of 0.52-0.81, far from
  // the bounds below; at 10 epochs the same seeds spread over 44-63% and 0.91-1.24, across them.
  const Config c = parse_config(kTiny, "tiny.toml",
                                {"data.train_limit=256", "data.test_limit=200", "train.batch_size=32",
                                 "train.epochs=20", "augment.crop=\"none\"", "augment.flip=false",
                                 "train.log_every=8"});
  TrainOptions o;
  o.run_dir = run.path;
  o.quiet = true;
  const TrainSummary s = train(c, o);
  CHECK(s.steps == 160);
  CHECK(s.epochs_done == 20);
  CHECK_FALSE(s.interrupted);

  const double chance = std::log(10.0);
  std::vector<Json> m = metrics_of(run.path);
  double first = -1, last = -1;
  int vals = 0;
  for (const Json& line : m) {
    const std::string kind = line.at("kind").as_string();
    if (kind == "train") {
      if (first < 0) first = line.at("loss").as_number();
      last = line.at("loss").as_number();
    }
    vals += kind == "val";
  }
  MESSAGE("widest-network loss: first interval ", first, ", last ", last, " (chance ", chance, ")");
  CHECK(last < 0.5 * chance);
  CHECK(vals == 40);  // widest and narrowest, every epoch
  CHECK(m.back().at("kind").as_string() == "summary");
  CHECK(s.val_top1_max > 50);  // 10 classes: chance is 10%
  CHECK(fs::exists(run.path + "/config.toml"));
  CHECK(fs::exists(run.path + "/last/model.safetensors"));
  CHECK(fs::exists(run.path + "/best/model.safetensors"));
  // The run directory's config is the resolved one and reads back to the same config.
  CHECK(config_hash(load_config(run.path + "/config.toml")) == config_hash(c));

  // Training again into the same directory is refused rather than overwriting it.
  CHECK(error_of([&] { train(c, o); }) ==
        run.path + " already holds a run; continue it with --resume " + run.path +
            ", or start another with --set name=NEW (or delete " + run.path + ")");
}

TEST_CASE("train run: batches built or downscaled by the device loaders train bitwise as the CPU loader's, resumed too") {
  // data.device_input = "on" runs the device loader (or, with colour jitter, the upload loader and
  // its prefetch during each step) on the CPU backend; it changes no result, so a run may switch it
  // on resume.
  for (const char* jitter : {"augment.color_jitter=0", "augment.color_jitter=0.4"}) {
    CAPTURE(jitter);
    const std::vector<std::string> tiny{"data.train_limit=128", "data.test_limit=100", "train.batch_size=32",
                                        "train.epochs=2", "data.antialias=true", "augment.pad_mode=\"zero\"", jitter};
    auto config = [&](const char* input) {
      std::vector<std::string> v = tiny;
      v.push_back(input);
      return parse_config(kTiny, "tiny.toml", v);
    };
    const TempDir cpu("mn_train_cpu_input", false), device("mn_train_device_input", false);
    TrainOptions o;
    o.quiet = true;
    o.run_dir = cpu.path;
    CHECK(train(config("data.device_input=\"off\""), o).steps == 8);
    const Config on = config("data.device_input=\"on\"");
    o.run_dir = device.path;
    o.stop_after_steps = 5;
    CHECK(train(on, o).interrupted);
    o.resume = true;
    o.stop_after_steps = -1;
    CHECK(train(on, o).steps == 8);
    for (const char* file : {"/last/model.safetensors", "/last/trainer.safetensors"}) {
      CAPTURE(file);
      CHECK(read_file(cpu.path + file) == read_file(device.path + file));
    }
  }
}

TEST_CASE("train run: data.device_input picks the loader: built on the device, downscaled there, or the CPU's") {
  auto ds = data::synthetic_dataset(128, 28, 1, 10, 1);
  auto kind = [&](const std::vector<std::string>& overrides, Device device) {
    const std::unique_ptr<data::BatchSource> l = make_train_loader(parse_config(kTiny, "tiny.toml", overrides), ds, device);
    return dynamic_cast<data::DeviceLoader*>(l.get()) ? "device" : dynamic_cast<data::UploadLoader*>(l.get()) ? "upload" : "cpu";
  };
  CHECK(std::string(kind({"data.device_input=\"on\""}, Device::cpu())) == "device");
  CHECK(std::string(kind({"data.device_input=\"on\"", "augment.color_jitter=0.4"}, Device::cpu())) == "upload");
  CHECK(std::string(kind({}, Device::cpu())) == "cpu");  // auto: the CPU loader on the CPU
  CHECK(std::string(kind({"data.device_input=\"off\""}, Device::cpu())) == "cpu");
}

TEST_CASE("train run: interrupted and resumed ends bitwise equal to an uninterrupted run") {
  // With dropout, whose random streams the checkpoint must carry too.
  const std::vector<std::string> tiny{"data.train_limit=128", "data.test_limit=100", "train.batch_size=32",
                                      "train.epochs=2", "model.dropout=0.3"};
  const Config c = parse_config(kTiny, "tiny.toml", tiny);
  const TempDir whole("mn_train_whole", false), parts("mn_train_parts", false);

  TrainOptions o;
  o.quiet = true;
  o.run_dir = whole.path;
  CHECK(train(c, o).steps == 8);

  o.run_dir = parts.path;
  o.stop_after_steps = 5;  // mid-way through the second epoch, as a Ctrl-C would stop it
  TrainSummary first = train(c, o);
  CHECK(first.interrupted);
  CHECK(first.steps == 5);
  Checkpoint mid = load_checkpoint(parts.path + "/last");
  CHECK(mid.state.step == 5);
  CHECK(mid.state.epoch == 1);
  CHECK(mid.state.batch == 1);

  // A different config is refused, naming every differing key.
  o.resume = true;
  o.stop_after_steps = -1;
  const Config other = parse_config(kTiny, "tiny.toml", [&] {
    auto v = tiny;
    v.push_back("optim.lr=0.2");
    v.push_back("mutualnet.num_random_widths=3");
    return v;
  }());
  CHECK(error_of([&] { train(other, o); }) ==
        "cannot resume " + parts.path + ": the config differs from the run's in mutualnet.num_random_widths: 2 -> 3, "
        "optim.lr: 0.1 -> 0.2 (resume with the run's own settings, or start a new run with --set name=NEW)");

  const TrainSummary rest = train(c, o);
  CHECK(rest.steps == 8);
  CHECK_FALSE(rest.interrupted);
  for (const char* file : {"/last/model.safetensors", "/last/trainer.safetensors"}) {
    CAPTURE(file);
    CHECK(read_file(whole.path + file) == read_file(parts.path + file));
  }
  Checkpoint a = load_checkpoint(whole.path + "/last"), b = load_checkpoint(parts.path + "/last");
  CHECK(a.state.sampler_rng == b.state.sampler_rng);
  CHECK(a.state.dropout_rng == b.state.dropout_rng);
  CHECK(a.state.best_top1 == b.state.best_top1);

  // A checkpoint without the dropout streams (as mn wrote them before, with no checksums either)
  // cannot continue exactly.
  std::string json = read_file(parts.path + "/last/trainer.json");
  const size_t from = json.find("\"dropout_rng\":{"), to = json.find('}', from);
  REQUIRE(to != std::string::npos);
  write_file_atomic(parts.path + "/last/trainer.json", json.erase(from, to + 2 - from));
  fs::remove(parts.path + "/last/checksums.txt");
  CHECK(error_of([&] { train(c, o); }).find("its checkpoint has no random state for the dropout module blocks.0.") !=
        std::string::npos);
}
