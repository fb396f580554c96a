// Checkpoint directories: three files written into <dir>.tmp, then swapped into place.
#include "mutualnet/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <sstream>

#include "io/files.h"

namespace mn {

namespace fs = std::filesystem;

Json TrainerState::to_json() const {
  Json j = Json::object();
  j.set("step", step);
  j.set("epoch", epoch);
  j.set("batch", batch);
  j.set("sampler_rng", sampler_rng);
  Json dropout = Json::object();
  for (const auto& [name, rng] : dropout_rng) dropout.set(name, rng);
  j.set("dropout_rng", dropout);
  j.set("config_hash", config_hash);
  j.set("model", model);
  j.set("best_top1", best_top1);
  j.set("best_epoch", best_epoch);
  j.set("train_seconds", train_seconds);
  j.set("train_data", Json::object({{"images", train_data.images},
                                    {"classes", train_data.classes},
                                    {"crc32", hex32(train_data.crc32)}}));
  return j;
}

TrainerState TrainerState::from_json(const Json& j, const std::string& what) {
  TrainerState s;
  s.step = j.at("step").as_int(what + " step");
  s.epoch = j.at("epoch").as_int(what + " epoch");
  s.batch = j.at("batch").as_int(what + " batch");
  s.sampler_rng = j.at("sampler_rng").as_string(what + " sampler_rng");
  if (const Json* dropout = j.find("dropout_rng"))  // absent in checkpoints from before it existed
    for (const auto& [name, rng] : dropout->members(what + " dropout_rng"))
      s.dropout_rng.emplace_back(name, rng.as_string(what + " dropout_rng." + name));
  s.config_hash = j.at("config_hash").as_string(what + " config_hash");
  s.model = j.at("model").as_string(what + " model");
  s.best_top1 = j.at("best_top1").as_number(what + " best_top1");
  s.best_epoch = j.at("best_epoch").as_int(what + " best_epoch");
  s.train_seconds = j.at("train_seconds").as_number(what + " train_seconds");
  if (const Json* data = j.find("train_data")) {  // absent in checkpoints from before it existed
    s.train_data.images = data->at("images").as_int(what + " train_data.images");
    s.train_data.classes = data->at("classes").as_int(what + " train_data.classes");
    const std::string crc = data->at("crc32").as_string(what + " train_data.crc32");
    char* end = nullptr;
    s.train_data.crc32 = uint32_t(std::strtoul(crc.c_str(), &end, 16));
    MN_CHECK(crc.size() == 8 && *end == '\0', what, " train_data.crc32: expected 8 hex digits, got '", crc, "'");
  }
  return s;
}

namespace {

constexpr const char* kFiles[] = {"model.safetensors", "trainer.safetensors", "trainer.json"};
constexpr const char* kChecksums = "checksums.txt";

// Checks every file d/checksums.txt lists. Checkpoints written before checksums existed have none
// and load unchecked.
void verify_checksums(const std::string& d) {
  const std::string list = d + "/" + kChecksums;
  if (!path_exists(list)) return;
  std::istringstream lines(read_file(list));
  int n = 0;
  for (std::string line; std::getline(lines, line);) {
    ++n;
    std::istringstream fields(line);
    std::string crc, file;
    uint64_t bytes = 0;
    MN_CHECK(fields >> crc >> bytes >> file && std::find(std::begin(kFiles), std::end(kFiles), file) != std::end(kFiles),
             list, ":", n, ": expected '<crc32> <bytes> <file>' naming a checkpoint file, got '", line, "'");
    const std::string path = d + "/" + file;
    MN_CHECK(path_exists(path), path, ": missing, though ", list, " lists it");
    const FileChecksum sum = file_checksum(path);
    MN_CHECK(sum.bytes == bytes, path, " is damaged: ", sum.bytes, " bytes where ", list, " recorded ", bytes,
             " (truncated?); the checkpoint cannot be used");
    MN_CHECK(hex32(sum.crc32) == crc, path, " is damaged: CRC-32 ", hex32(sum.crc32), " where ", list, " recorded ",
             crc, " (a flipped bit?); the checkpoint cannot be used");
  }
}

// A crash between the two renames of save_checkpoint leaves only <dir>.old.
std::string checkpoint_dir(const std::string& dir) {
  const std::string d = path_exists(dir + "/trainer.json") ? dir : dir + ".old";
  MN_CHECK(path_exists(d + "/trainer.json"), "no checkpoint in ", dir,
           " (expected model.safetensors, trainer.safetensors and trainer.json there)");
  return d;
}

}  // namespace

void save_checkpoint(const std::string& dir, const NamedTensors& model,
                     const NamedTensors& optimizer, const TrainerState& state) {
  const std::string tmp = dir + ".tmp", old = dir + ".old";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  try {
    make_dirs(tmp);
    save_safetensors(tmp + "/model.safetensors", model,
                     {{"format", "pt"}, {"model", state.model}, {"config_hash", state.config_hash}});
    save_safetensors(tmp + "/trainer.safetensors", optimizer, {{"format", "pt"}});
    write_file_atomic(tmp + "/trainer.json", state.to_json().dump() + "\n");
    std::string sums;
    for (const char* file : kFiles) {
      const FileChecksum sum = file_checksum(tmp + "/" + file);
      sums += cat(hex32(sum.crc32), " ", sum.bytes, " ", file, "\n");
    }
    write_file_atomic(tmp + "/" + kChecksums, sums);
  } catch (const Error& e) {
    fs::remove_all(tmp, ec);  // gives a full disk its space back
    fail("cannot write the checkpoint ", dir, ": ", e.what(),
         checkpoint_exists(dir) ? "; the previous checkpoint there is kept" : "");
  }
  // A stale <dir>.old goes only when <dir> is whole: after a crash between the renames it is the
  // only checkpoint there is.
  if (fs::exists(dir)) {
    fs::remove_all(old, ec);
    fs::rename(dir, old);
  }
  fs::rename(tmp, dir);
  fs::remove_all(old, ec);
}

bool checkpoint_exists(const std::string& dir) {
  return path_exists(dir + "/trainer.json") || path_exists(dir + ".old/trainer.json");
}

Checkpoint load_checkpoint(const std::string& dir) {
  const std::string d = checkpoint_dir(dir);
  verify_checksums(d);
  Checkpoint c;
  const std::string json_path = d + "/trainer.json";
  c.state = TrainerState::from_json(Json::parse(read_file(json_path), json_path), json_path);
  c.model = load_safetensors(d + "/model.safetensors");
  if (path_exists(d + "/trainer.safetensors")) c.optimizer = load_safetensors(d + "/trainer.safetensors");
  return c;
}

void lock_run_dir(FileLock& lock, const std::string& dir) {
  const std::string path = dir + "/lock";
  if (lock.try_lock(path)) return;
  std::string pid = read_file(path);
  pid.erase(std::remove(pid.begin(), pid.end(), '\n'), pid.end());
  fail(dir, " is in use: another mn process", pid.empty() ? "" : " (pid " + pid + ")", " holds ", path,
       "; wait for it to finish or stop it first");
}

SafetensorsFile load_checkpoint_model(const std::string& dir) {
  const std::string d = checkpoint_dir(dir);
  verify_checksums(d);
  return load_safetensors(d + "/model.safetensors");
}

}  // namespace mn
