// `mn train CONFIG [--set key=value]... [--resume RUN] [--explain]`: trains a MutualNet
// (mutualnet/trainer.cpp) into runs/<name>/, resumes one, or explains a single step.
#include <cstring>
#include <string>
#include <vector>

#include "mutualnet/config.h"
#include "mutualnet/explain.h"
#include "mutualnet/trainer.h"
#include "tensor/error.h"
#include "tools/commands.h"

namespace mn::cli {

int cmd_train(int argc, char** argv) {
  std::string config_path, resume;
  std::vector<std::string> overrides;
  bool explain = false;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* flag) -> std::string {
      MN_CHECK(i + 1 < argc, flag, " needs a value");
      return argv[++i];
    };
    if (a == "--set") overrides.push_back(value("--set"));
    else if (a.rfind("--set=", 0) == 0) overrides.push_back(a.substr(6));
    else if (a == "--resume") resume = value("--resume");
    else if (a == "--explain") explain = true;
    else if (a.rfind("--", 0) == 0) fail("unknown option '", a, "' (usage: mn train CONFIG [--set key=value]... [--resume RUN] [--explain])");
    else if (config_path.empty()) config_path = a;
    else fail("unexpected argument '", a, "' (one config file only)");
  }
  // `mn train --resume runs/x` alone resumes with the run's own resolved config.
  if (config_path.empty() && !resume.empty()) config_path = resume + "/config.toml";
  MN_CHECK(!config_path.empty(), "which config? usage: mn train CONFIG [--set key=value]... [--resume RUN] [--explain]");
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
