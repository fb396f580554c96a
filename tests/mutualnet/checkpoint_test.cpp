// Checkpoint directories: round trip and atomic replacement (the safetensors format: tests/io).
#include <doctest/doctest.h>
#include <zlib.h>

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

namespace {
uint32_t crc32_of(const std::string& bytes) {
  return uint32_t(crc32_z(crc32_z(0, nullptr, 0), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}
}  // namespace

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
  s.train_data = {.images = 60000, .classes = 10, .crc32 = 0x0badf00d};
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
  CHECK(c.state.train_data.images == 60000);
  CHECK(c.state.train_data.classes == 10);
  CHECK(c.state.train_data.crc32 == 0x0badf00d);
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
  // The next save keeps that <dir>.old until the new <dir> is in place, then removes it.
  s.step = 3000;
  save_checkpoint(root.path + "/last", {{"fc.weight", w}}, {}, s);
  CHECK(load_checkpoint(root.path + "/last").state.step == 3000);
  CHECK_FALSE(fs::exists(root.path + "/last.old"));
  CHECK(error_of([&] { load_checkpoint(root.path + "/nothing"); }) ==
        "no checkpoint in " + root.path +
            "/nothing (expected model.safetensors, trainer.safetensors and trainer.json there)");
}

TEST_CASE("checkpoint: a truncated or bit-flipped file is refused by name; older checkpoints load unchecked") {
  const TempDir root("mn_ckpt_damage");
  const std::string dir = root.path + "/last";
  TrainerState s;
  s.step = 7;
  s.model = "wrn-10-1";
  const Tensor w = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {4});
  save_checkpoint(dir, {{"fc.weight", w}}, {{"momentum_buffer.fc.weight", w}}, s);
  const std::string sums = read_file(dir + "/checksums.txt");
  for (const char* file : {"model.safetensors", "trainer.safetensors", "trainer.json"}) {
    const FileChecksum sum = file_checksum(dir + "/" + file);
    CHECK(sums.find(hex32(sum.crc32) + " " + std::to_string(sum.bytes) + " " + file + "\n") != std::string::npos);
  }

  const std::string model = dir + "/model.safetensors", good = read_file(model);
  std::string flipped = good;
  flipped[flipped.size() - 3] ^= 0x10;  // a bit of fc.weight[3]
  write_file_atomic(model, flipped);
  const std::string recorded = hex32(crc32_of(good)), found = hex32(crc32_of(flipped));
  const std::string damaged = model + " is damaged: CRC-32 " + found + " where " + dir + "/checksums.txt recorded " +
                              recorded + " (a flipped bit?); the checkpoint cannot be used";
  CHECK(error_of([&] { load_checkpoint(dir); }) == damaged);
  CHECK(error_of([&] { load_checkpoint_model(dir); }) == damaged);
  write_file_atomic(model, good);
  CHECK(load_checkpoint_model(dir).at("fc.weight").to_vector<float>() == std::vector<float>{1, 2, 3, 4});

  const std::string trainer = dir + "/trainer.safetensors", whole = read_file(trainer);
  write_file_atomic(trainer, whole.substr(0, whole.size() - 5));
  CHECK(error_of([&] { load_checkpoint(dir); }) ==
        trainer + " is damaged: " + std::to_string(whole.size() - 5) + " bytes where " + dir + "/checksums.txt recorded " +
            std::to_string(whole.size()) + " (truncated?); the checkpoint cannot be used");
  write_file_atomic(trainer, whole);

  // "step": 7 -> 3 parses as JSON: only the checksum can tell.
  const std::string json = dir + "/trainer.json", text = read_file(json);
  std::string edited = text;
  edited[edited.find("\"step\":7") + 7] = '3';
  write_file_atomic(json, edited);
  CHECK(error_of([&] { load_checkpoint(dir); }).rfind(json + " is damaged: CRC-32 ", 0) == 0);
  write_file_atomic(json, text);
  CHECK(load_checkpoint(dir).state.step == 7);

  write_file_atomic(dir + "/checksums.txt", "0123abcd 12 ../../etc/passwd\n");
  CHECK(error_of([&] { load_checkpoint(dir); }) ==
        dir + "/checksums.txt:1: expected '<crc32> <bytes> <file>' naming a checkpoint file, got '0123abcd 12 "
              "../../etc/passwd'");
  // Written before checksums existed: loads as it always did.
  fs::remove(dir + "/checksums.txt");
  CHECK(load_checkpoint(dir).state.step == 7);
}
