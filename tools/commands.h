// The subcommands of `mn`, one function each (defined in tools/cmd_<name>.cpp), listed in mn.cpp.
#pragma once

namespace mn::cli {

// Each takes the arguments after the subcommand name and returns the process exit code.
int cmd_bench(int argc, char** argv);
int cmd_flops(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_sweep(int argc, char** argv);
// `mn bench ops|data|train`, dispatched by cmd_bench (tools/cmd_bench.cpp).
int bench_ops(int argc, char** argv);
int bench_data(int argc, char** argv);
int bench_train(int argc, char** argv);

}  // namespace mn::cli
