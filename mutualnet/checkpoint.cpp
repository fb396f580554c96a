// Checkpoint directories: three files written into <dir>.tmp, then swapped into place.
#include "mutualnet/checkpoint.h"

#include <cstdio>
#include <filesystem>

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
  return s;
}

void save_checkpoint(const std::string& dir, const NamedTensors& model,
                     const NamedTensors& optimizer, const TrainerState& state) {
  const std::string tmp = dir + ".tmp", old = dir + ".old";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  make_dirs(tmp);
  save_safetensors(tmp + "/model.safetensors", model,
                   {{"format", "pt"}, {"model", state.model}, {"config_hash", state.config_hash}});
  save_safetensors(tmp + "/trainer.safetensors", optimizer, {{"format", "pt"}});
  write_file_atomic(tmp + "/trainer.json", state.to_json().dump() + "\n");
  fs::remove_all(old, ec);
  if (fs::exists(dir)) fs::rename(dir, old);
  fs::rename(tmp, dir);
  fs::remove_all(old, ec);
}

bool checkpoint_exists(const std::string& dir) {
  return path_exists(dir + "/trainer.json") || path_exists(dir + ".old/trainer.json");
}

Checkpoint load_checkpoint(const std::string& dir) {
  // A crash between the two renames of save_checkpoint leaves only <dir>.old.
  std::string d = path_exists(dir + "/trainer.json") ? dir : dir + ".old";
  MN_CHECK(path_exists(d + "/trainer.json"), "no checkpoint in ", dir,
           " (expected model.safetensors, trainer.safetensors and trainer.json there)");
  Checkpoint c;
  const std::string json_path = d + "/trainer.json";
  c.state = TrainerState::from_json(Json::parse(read_file(json_path), json_path), json_path);
  c.model = load_safetensors(d + "/model.safetensors");
  if (path_exists(d + "/trainer.safetensors")) c.optimizer = load_safetensors(d + "/trainer.safetensors");
  return c;
}

}  // namespace mn
