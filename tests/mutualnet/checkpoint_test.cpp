// Checkpoint directories: round trip and atomic replacement (the safetensors format: tests/io).
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>

#include "mutualnet/checkpoint.h"
#include "io/files.h"
#include "io/safetensors.h"
#include "tests/common/test_util.h"

using namespace mn;
namespace fs = std::filesystem;

using test::error_of;
using test::TempDir;

TEST_CASE("checkpoint: directory round trip and replacement") {
  const TempDir root("mn_ckpt");
  TrainerState s;
  s.step = 1234;
  s.epoch = 2;
  s.batch = 17;
  s.sampler_rng = "1 2 3";
  s.config_hash = "00ff";
  s.model = "wrn-10-2";
  s.best_top1 = 88.5;
  s.best_epoch = 1;
  s.train_seconds = 12.5;
  Tensor w = Tensor::from_vector(std::vector<float>{1, 2}, {2});
  Tensor m = Tensor::from_vector(std::vector<float>{0.5, 0.25}, {2});
  save_checkpoint(root.path + "/last", {{"fc.weight", w}}, {{"momentum_buffer.fc.weight", m}}, s);
  CHECK(checkpoint_exists(root.path + "/last"));

  Checkpoint c = load_checkpoint(root.path + "/last");
  CHECK(c.state.step == 1234);
  CHECK(c.state.epoch == 2);
  CHECK(c.state.batch == 17);
  CHECK(c.state.sampler_rng == "1 2 3");
  CHECK(c.state.best_top1 == 88.5);
  CHECK(c.model.at("fc.weight").to_vector<float>() == std::vector<float>{1, 2});
  CHECK(c.optimizer.at("momentum_buffer.fc.weight").to_vector<float>() ==
        std::vector<float>{0.5, 0.25});
  CHECK(c.model.metadata.at("model") == "wrn-10-2");

  // Replacing keeps exactly one directory; no temporary is left behind.
  s.step = 2000;
  save_checkpoint(root.path + "/last", {{"fc.weight", w}}, {}, s);
  CHECK(load_checkpoint(root.path + "/last").state.step == 2000);
  CHECK_FALSE(fs::exists(root.path + "/last.tmp"));
  CHECK_FALSE(fs::exists(root.path + "/last.old"));

  // A crash between the renames leaves <dir>.old, which is still loadable.
  fs::rename(root.path + "/last", root.path + "/last.old");
  CHECK(checkpoint_exists(root.path + "/last"));
  CHECK(load_checkpoint(root.path + "/last").state.step == 2000);
  CHECK(error_of([&] { load_checkpoint(root.path + "/nothing"); }) ==
        "no checkpoint in " + root.path +
            "/nothing (expected model.safetensors, trainer.safetensors and trainer.json there)");
}
