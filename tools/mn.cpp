// mn: the command line. `mn help` lists the subcommands; errors are one line on stderr, exit 1.
#include <cstdio>
#include <cstring>
#include <exception>

#include "tools/commands.h"
#include "tensor/error.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* usage;
};

const Command kCommands[] = {
    {"train", mn::cli::cmd_train, "train CONFIG [--set key=value]... [--resume RUN] [--explain]"},
    {"eval", mn::cli::cmd_eval, "eval RUN --width W --resolution R"},
    {"sweep", mn::cli::cmd_sweep, "sweep RUN [--widths 0.25:1.0:0.05] [--resolutions 28,24,20,16]"},
    {"flops", mn::cli::cmd_flops, "flops CONFIG | --model NAME [options]  (MFLOPs and params per sub-network)"},
    {"bench", mn::cli::cmd_bench, "bench ops | data | train CONFIG [--device cuda]"},
};

void usage(FILE* out) {
  std::fprintf(out, "usage: mn COMMAND [ARGS]\n");
  for (const auto& c : kCommands) std::fprintf(out, "  mn %s\n", c.usage);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "help") || !std::strcmp(argv[1], "--help") ||
      !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 1 : 0;
  }
  for (const auto& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(argc - 2, argv + 2);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mn %s: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "mn: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 1;
}
