// kill -9 at random moments, including in the middle of a checkpoint write: `mn train` killed
// and resumed again and again ends with weights bitwise equal to an uninterrupted run.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "io/files.h"
#include "mutualnet/checkpoint.h"
#include "mutualnet/config.h"
#include "mutualnet/trainer.h"
#include "tensor/random.h"
#include "tests/common/test_util.h"
#include "tests/mutualnet/spawn_mn.h"

using namespace mn;

namespace {

// 6 epochs of 8 steps, a checkpoint after every step (so kills often land inside a write), dropout
// on (its random streams must survive too), no validation (speed).
const char* kConfig = R"(
device = "cpu"
seed = 1995
[model]
depth = 10
widen = 1
dropout = 0.3
[data]
workers = 1
train_limit = 128
[train]
epochs = 6
batch_size = 16
checkpoint_every = 1
validate = false
)";

}  // namespace

TEST_CASE("kill -9: a run killed at random moments and resumed each time ends bitwise equal") {
  const test::TempDir whole("mn_kill_whole", false), killed("mn_kill_runs");
  const Config c = parse_config(kConfig, "kill.toml");
  TrainOptions o;
  o.run_dir = whole.path;
  o.quiet = true;
  REQUIRE(train(c, o).steps == 48);

  write_file_atomic(killed.file("kill.toml"), kConfig);
  const std::string run = killed.file("runs/kill");
  Generator rng(7);
  int kills = 0, exit_code = -1;
  for (int attempt = 0; attempt < 60 && exit_code != 0; ++attempt) {
    // Resume once a checkpoint exists; before that, start afresh (a run killed before its first
    // checkpoint has nothing to lose).
    const bool resume = checkpoint_exists(run + "/last");
    const pid_t pid = test::spawn_mn(killed.path, resume ? std::vector<std::string>{"train", "--resume", "runs/kill"}
                                                         : std::vector<std::string>{"train", "kill.toml"});
    // The last attempts run to the end; the others are killed after 30-330 ms.
    const bool kill_it = attempt < 50;
    if (kill_it) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30 + rng.randint(0, 300)));
      kill(pid, SIGKILL);
    }
    exit_code = test::wait_mn(pid);
    kills += exit_code == -1;
    REQUIRE((exit_code == 0 || exit_code == -1));  // finished, or killed: never a failed resume
  }
  MESSAGE(kills, " kill(s) before the run finished");
  CHECK(kills >= 3);
  REQUIRE(exit_code == 0);
  const Checkpoint a = load_checkpoint(whole.path + "/last"), b = load_checkpoint(run + "/last");
  CHECK(b.state.step == 48);
  CHECK(b.state.dropout_rng == a.state.dropout_rng);
  CHECK(read_file(whole.path + "/last/model.safetensors") == read_file(run + "/last/model.safetensors"));
  CHECK(read_file(whole.path + "/last/trainer.safetensors") == read_file(run + "/last/trainer.safetensors"));
}
