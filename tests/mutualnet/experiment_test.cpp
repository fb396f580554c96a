// The Experiment builds only the parts asked for, all from the config and the run's seeds: the
// same config gives the same weights, data order and width draws; a missing dataset or
// checkpoint is a one-line error naming the path.
#include <doctest/doctest.h>

#include <set>

#include "mutualnet/experiment.h"
#include "nn/activation.h"
#include "tests/common/test_util.h"

using namespace mn;
using test::error_of;

namespace {

Config tiny(std::vector<std::string> overrides = {}) {
  overrides.insert(overrides.end(), {"data.train_limit=100", "data.test_limit=50", "train.batch_size=32"});
  return parse_config("device = \"cpu\"\n[model]\ndepth = 10\nwiden = 1\n[data]\nworkers = 1\n", "tiny.toml",
                      overrides);
}

std::vector<float> first_weight(Experiment& ex) { return ex.model.net->parameters()[0].data().to_vector<float>(); }

}  // namespace

TEST_CASE("experiment: run seeds are fixed functions of the seed, one distinct stream per use") {
  const RunSeeds s = run_seeds(1995);
  CHECK(s.weights == 1995);  // the streams runs made before this split keep their values
  CHECK(s.data == 1995);
  CHECK(s.calibration == (1995 ^ 0xB1CA11B7A7E5ull));
  CHECK(s.sampler == 1995 * 0x9E3779B97F4A7C15ull + 17);
  CHECK(std::set<uint64_t>{s.weights, s.dropout, s.calibration, s.sampler}.size() == 4);
  CHECK(run_seeds(1996).dropout != s.dropout);
}

TEST_CASE("experiment: only the parts asked for are built") {
  Experiment bare(tiny(), {});
  CHECK(bare.device == Device::cpu());
  CHECK_FALSE(bare.train_set);
  CHECK_FALSE(bare.test_set);
  CHECK_FALSE(bare.train_loader);
  CHECK_FALSE(bare.calib_loader);
  CHECK_FALSE(bare.optimizer.has_value());
  CHECK(bare.model.spec.name() == "wrn-10-1");
  CHECK(error_of([&] { bare.evaluate({{1.0, 28}}); }) == "evaluate: the experiment was built without evaluation data");

  Experiment train(tiny({"train.epochs=2", "optim.warmup_epochs=1"}), {.train_data = true, .optimizer = true});
  REQUIRE(train.train_loader);
  CHECK(train.train_set->size() == 100);
  CHECK(train.train_loader->batches_per_epoch() == 3);  // 100 images, batch 32, last one dropped
  CHECK(train.schedule.total_iters == 6);
  CHECK(train.schedule.warmup_iters == 3);
  CHECK(train.optimizer.has_value());
  CHECK_FALSE(train.test_set);

  Experiment eval(tiny(), {.eval_resolutions = {28, 16}});
  REQUIRE(eval.test_loader);
  CHECK(eval.test_set->size() == 50);
  eval.test_loader->start_epoch(0);
  CHECK(eval.test_loader->next()->resolutions == std::vector<int>{28, 16});
}

TEST_CASE("experiment: the same config builds the same weights and draws; the seed changes them") {
  Experiment a(tiny({"model.dropout=0.3"}), {}), b(tiny({"model.dropout=0.3"}), {});
  Experiment c(tiny({"model.dropout=0.3", "seed=7"}), {});
  CHECK(first_weight(a) == first_weight(b));
  CHECK(first_weight(a) != first_weight(c));
  CHECK(a.sampler.state() == b.sampler.state());
  CHECK(a.sampler.state() != c.sampler.state());
  // Dropout streams come from the run's seed: equal across identical runs, distinct per module and seed.
  auto streams = [](Experiment& ex) {
    std::vector<std::string> out;
    for (auto& [name, m] : ex.model.net->named_modules())
      if (auto* d = dynamic_cast<nn::Dropout*>(m)) out.push_back(d->generator().state());
    return out;
  };
  REQUIRE(streams(a).size() == 3);
  CHECK(streams(a) == streams(b));
  CHECK(streams(a)[0] != streams(a)[1]);
  CHECK(streams(a)[0] != streams(c)[0]);
}

TEST_CASE("experiment: a missing dataset or checkpoint is an error naming the path") {
  const std::string missing = error_of([] { Experiment(tiny({"data.root=/nonexistent/fm"}), {.train_data = true}); });
  CHECK(missing.find("/nonexistent/fm") != std::string::npos);
  CHECK(missing.ends_with(" To download it: mn fetch fashion-mnist --root /nonexistent/fm"));
  Experiment ex(tiny(), {});
  const test::TempDir tmp("mn_experiment_ckpt");
  const std::string& dir = tmp.path;
  CHECK(error_of([&] { ex.load_weights(dir, "last"); }) ==
        "no checkpoint in " + dir + "/last (training writes one after every epoch)");
  CHECK(error_of([&] { ex.load_weights(dir, "first"); }) == "--checkpoint: expected last or best, got 'first'");
  CHECK(error_of([] { load_run_config("/nonexistent/run", {}); }) ==
        "/nonexistent/run is not a run directory (no config.toml); runs are made by: mn train CONFIG");
}
