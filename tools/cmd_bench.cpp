// `mn bench ops | data | train CONFIG`: benchmark programs that print a table.
#include <cstring>

#include "tools/commands.h"
#include "tensor/error.h"

namespace mn::cli {

int cmd_bench(int argc, char** argv) {
  MN_CHECK(argc >= 1, "bench: which benchmark? one of: ops, data, train");
  if (!std::strcmp(argv[0], "ops")) return bench_ops(argc - 1, argv + 1);
  if (!std::strcmp(argv[0], "data")) return bench_data(argc - 1, argv + 1);
  if (!std::strcmp(argv[0], "train")) return bench_train(argc - 1, argv + 1);
  fail("bench: unknown benchmark '", argv[0], "' (one of: ops, data, train)");
}

}  // namespace mn::cli
