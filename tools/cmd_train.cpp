// `mn train [CONFIG] [--set key=value]... [--resume RUN] [--explain]`: trains a MutualNet
// (mutualnet/trainer.cpp) into runs/<name>/, resumes one, or explains a single step.
#include <string>
#include <vector>

#include "mutualnet/config.h"
#include "mutualnet/explain.h"
#include "mutualnet/trainer.h"
#include "tools/commands.h"

namespace mn::cli {

const Spec kTrainSpec{
    "train",
    "Trains a MutualNet into runs/NAME/ (the config's name), resumes a run, or explains one step.",
    {optional_positional("CONFIG", "the experiment's TOML config (with --resume, default: RUN/config.toml)"),
     repeated("--set", "key=value", "overrides a config key, e.g. --set train.epochs=1 --set device=cpu"),
     option("--resume", "RUN", "continues the run in folder RUN where it stopped"),
     flag("--explain", "runs a single step and prints what each sub-network contributed")}};

int cmd_train(int argc, char** argv) {
  const Args args(kTrainSpec, argc, argv);
  std::string config_path = args.get("CONFIG"), resume = args.get("--resume");
  const std::vector<std::string> overrides = args.all("--set");
  const bool explain = args.has("--explain");
  // `mn train --resume runs/x` alone resumes with the run's own resolved config.
  if (config_path.empty() && !resume.empty()) config_path = resume + "/config.toml";
  if (config_path.empty()) args.fail("which config? give CONFIG or --resume RUN");
  const Config config = load_config(config_path, overrides);
  if (explain) {
    explain_step(config);
    return 0;
  }
  TrainOptions options;
  options.run_dir = resume.empty() ? "runs/" + config.name : resume;
  options.resume = !resume.empty();
  const TrainSummary summary = train(config, options);
  return summary.interrupted ? 130 : 0;  // 130: the shell's code for a run stopped by Ctrl-C
}

}  // namespace mn::cli
