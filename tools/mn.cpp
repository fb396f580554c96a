// mn: the command line. `mn --help` lists the commands, `mn CMD --help` describes one (both from
// the commands' Specs); errors are one line on stderr, exit 1.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "tools/commands.h"

namespace {

using namespace mn::cli;

struct Command {
  const Spec& spec;
  int (*run)(int, char**);
};

const Command kCommands[] = {
    {kTrainSpec, cmd_train},
    {kEvalSpec, cmd_eval},
    {kSweepSpec, cmd_sweep},
    {kExportSpec, cmd_export},
    {kPredictSpec, cmd_predict},
    {kFetchSpec, cmd_fetch},
    {kFlopsSpec, cmd_flops},
    {kBenchTrainSpec, bench_train},
    {kBenchOpsSpec, bench_ops},
    {kBenchDataSpec, bench_data},
};

// Commands named in two words ("bench train") form a group named by the first ("bench").
bool in_group(const Command& c, const std::string& group) {
  return group.empty() || c.spec.name.rfind(group + " ", 0) == 0;
}

// `mn --help` (group "") or `mn bench --help`: every command of the group, synopsis and summary.
std::string listing(const std::string& group) {
  const std::string lead = group.empty() ? "mn" : "mn " + group;
  std::string out = "usage: " + lead + " COMMAND [ARGS]   (" + lead + " COMMAND --help describes one)\n\n";
  for (const Command& c : kCommands)
    if (in_group(c, group)) out += "  " + synopsis(c.spec, 2) + "\n      " + c.spec.summary + "\n";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any CUDA call (each rank picks its GPU). Under mpirun/srun only rank 0 prints
  // (reports, progress); every rank prints its errors.
  if (mn::dist::world().rank() != 0 && !std::freopen("/dev/null", "w", stdout)) return 1;
  const std::string first = argc > 1 ? argv[1] : "", two = argc > 2 ? first + " " + argv[2] : "";
  for (const Command& c : kCommands) {
    const int words = c.spec.name == first ? 1 : c.spec.name == two ? 2 : 0;
    if (words == 0) continue;
    try {
      return c.run(argc - 1 - words, argv + 1 + words);
    } catch (const HelpRequested&) {
      std::fputs(usage(c.spec).c_str(), stdout);
      return 0;
    } catch (const std::exception& e) {
      const mn::dist::Communicator& w = mn::dist::world();
      const std::string rank = w.size() > 1 ? mn::cat(" (rank ", w.rank(), " of ", w.size(), ")") : "";
      std::fprintf(stderr, "mn %s%s: %s\n", c.spec.name.c_str(), rank.c_str(), e.what());
      mn::dist::abort_others(1);  // a rank that fails stops them all
      return 1;
    }
  }
  // Not a command: `mn`, `mn --help`, a group (`mn bench ...`) or a typo.
  std::string group;
  for (const Command& c : kCommands)
    if (!first.empty() && in_group(c, first)) group = first;
  const int at = group.empty() ? 1 : 2;  // the word that should have named the command
  if (at >= argc) {
    std::fputs(listing(group).c_str(), stderr);
    return 1;
  }
  const std::string word = argv[at];
  if (word == "help" || word == "--help" || word == "-h") {
    std::fputs(listing(group).c_str(), stdout);
    return 0;
  }
  std::vector<std::string> names;
  for (const Command& c : kCommands) {
    if (!in_group(c, group)) continue;
    const std::string rest = c.spec.name.substr(group.empty() ? 0 : group.size() + 1);
    names.push_back(rest.substr(0, rest.find(' ')));
  }
  const std::string lead = group.empty() ? "mn" : "mn " + group, guess = nearest(word, names);
  std::fprintf(stderr, "%s: unknown command '%s'%s (see %s --help)\n", lead.c_str(), word.c_str(),
               guess.empty() ? "" : ("; did you mean " + guess + "?").c_str(), lead.c_str());
  return 1;
}
