// Run directories and checkpoints.
//
//   runs/<name>/config.toml          the resolved config (every key)
//   runs/<name>/metrics.jsonl        one JSON object per logging interval and per validation
//   runs/<name>/last/                written after every epoch and on Ctrl-C
//       model.safetensors            weights and BN buffers by state-dict name (PyTorch-loadable)
//       trainer.safetensors          optimizer state (step, momentum buffers)
//       trainer.json                 step, epoch, data position, RNG state, config hash, training
//                                    set fingerprint, ...
//       checksums.txt                "<crc32> <bytes> <file>" for the three files above
//   runs/<name>/best/                the same, from the epoch whose widest network validated best
//   runs/<name>/sweep.*, query_table.md, tradeoff.svg   written by `mn sweep`
//   runs/<name>/lock                 flock-ed by the `mn train` or `mn sweep` using it; holds its pid
//
// A checkpoint directory is replaced as a whole: written to <dir>.tmp, then renamed into place,
// so a crash leaves the previous checkpoint (or, between the two renames, <dir>.old) intact, and
// a failed write (a full disk) leaves it untouched. Loading verifies checksums.txt, so a truncated
// or bit-flipped file is refused by name instead of resuming from damaged weights.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "io/files.h"
#include "io/json.h"
#include "io/safetensors.h"

namespace mn {

struct TrainerState {
  int64_t step = 0;    // optimizer steps done
  int64_t epoch = 0;   // the epoch the next step belongs to
  int64_t batch = 0;   // batches of that epoch already trained: where the loader resumes
  std::string sampler_rng;  // state of the generator drawing widths and resolutions
  // (module name, state) of every dropout module's generator, in module order
  std::vector<std::pair<std::string, std::string>> dropout_rng;
  std::string config_hash;
  std::string model;        // "wrn-10-2"
  double best_top1 = -1;    // best validation top-1 (%) of the widest network so far
  int64_t best_epoch = -1;
  double train_seconds = 0; // time spent training so far, all sessions
  // The training set the run started on; images = 0 in checkpoints from before it was recorded.
  data::Fingerprint train_data;

  Json to_json() const;
  static TrainerState from_json(const Json& j, const std::string& what);
};

struct Checkpoint {
  SafetensorsFile model, optimizer;
  TrainerState state;
};

void save_checkpoint(const std::string& dir, const NamedTensors& model,
                     const NamedTensors& optimizer, const TrainerState& state);
Checkpoint load_checkpoint(const std::string& dir);
// Only the weights (model.safetensors), checksum verified like load_checkpoint.
SafetensorsFile load_checkpoint_model(const std::string& dir);
// Whether dir (or a leftover dir.old from an interrupted replacement) holds a checkpoint.
bool checkpoint_exists(const std::string& dir);

// Takes `lock` on <dir>/lock, held until `lock` is destroyed or the process ends, so that a train
// and a sweep (or two of either) never write into one run directory at once. When another process
// holds it, throws "<dir> is in use: another mn process (pid N) holds <dir>/lock; ...".
void lock_run_dir(FileLock& lock, const std::string& dir);

}  // namespace mn
