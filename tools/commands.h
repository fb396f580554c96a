// The commands of `mn`, one function each (defined in tools/cmd_<name>.cpp and tools/bench_<name>.cpp)
// with the Spec of its arguments beside it; mn.cpp lists them and answers --help from the Specs.
#pragma once

#include "tools/args.h"

namespace mn::cli {

// Each takes the arguments after the command's name and returns the process exit code.
int cmd_flops(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_sweep(int argc, char** argv);
int cmd_export(int argc, char** argv);
int cmd_predict(int argc, char** argv);
int cmd_fetch(int argc, char** argv);
int bench_ops(int argc, char** argv);
int bench_data(int argc, char** argv);
int bench_train(int argc, char** argv);

extern const Spec kFlopsSpec, kTrainSpec, kEvalSpec, kSweepSpec, kExportSpec, kPredictSpec, kFetchSpec, kBenchOpsSpec, kBenchDataSpec, kBenchTrainSpec;

}  // namespace mn::cli
