// Subcommands not built yet. Each issue that delivers one removes its line here and adds
// tools/cmd_<name>.cpp.
#include "tools/commands.h"
#include "tensor/error.h"

namespace mn::cli {
int bench_data(int, char**) { fail("bench data: not implemented yet"); }
int bench_train(int, char**) { fail("bench train: not implemented yet"); }
int cmd_flops(int, char**) { fail("flops: not implemented yet"); }
int cmd_train(int, char**) { fail("train: not implemented yet"); }
int cmd_eval(int, char**) { fail("eval: not implemented yet"); }
int cmd_sweep(int, char**) { fail("sweep: not implemented yet"); }
}  // namespace mn::cli
