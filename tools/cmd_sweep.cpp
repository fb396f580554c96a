// `mn sweep RUN [--widths 0.25:1.0:0.05] [--resolutions 28,24,20,16] [--latency]`: evaluates every
// point of the width x resolution grid (each with its own BN recalibration) and writes sweep.csv,
// sweep.json, query_table.md and tradeoff.svg into the run directory; --latency also times every
// point's forward pass on this machine (mutualnet/latency.h) for a query table by latency.
#include <cblas.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "mutualnet/checkpoint.h"
#include "mutualnet/evaluate.h"
#include "mutualnet/experiment.h"
#include "mutualnet/latency.h"
#include "io/files.h"
#include "io/progress.h"
#include "mutualnet/sweep_report.h"
#include "tensor/error.h"
#include "tools/commands.h"

namespace mn::cli {

const Spec kSweepSpec{
    "sweep",
    "Evaluates a grid of widths x resolutions of a run; writes the query table and plot into RUN.",
    {positional("RUN", "a trained run's folder, e.g. runs/fashion_mnist"),
     option("--widths", "LIST|lo:hi:step", "the widths, e.g. 1,0.5 or 0.25:1.0:0.05 (default: the config's sweep.widths)"),
     option("--resolutions", "LIST",
            "the resolutions, e.g. 28,24,20,16 (default: sweep.resolutions, else data.resolutions)"),
     option("--checkpoint", "last|best", "which checkpoint of the run", "last"),
     flag("--latency", "also measure every point's inference latency here (median of 15 passes after 3 warm-up)"),
     option("--device", "cpu|cuda", "where the sweep runs and latency is measured (default: the config's device)"),
     option("--threads", "N", "CPU threads for OpenMP and OpenBLAS (default: all cores)"),
     option("--batch", "B", "images per timed forward pass", "1"),
     repeated("--set", "key=value", "overrides a config key that does not change the model, e.g. --set device=cpu")}};

int cmd_sweep(int argc, char** argv) {
  const Args args(kSweepSpec, argc, argv);
  const std::string run_dir = args.get("RUN"), checkpoint = args.get("--checkpoint"),
                    widths_arg = args.get("--widths"), resolutions_arg = args.get("--resolutions");
  std::vector<std::string> overrides = args.all("--set");
  if (args.has("--device")) overrides.push_back("device=" + args.get("--device"));
  if (args.has("--threads")) {
    const int64_t threads = args.integer("--threads");
    if (threads < 1) args.fail("--threads must be at least 1");
    omp_set_num_threads(int(threads));
    openblas_set_num_threads(int(threads));
  }
  const LatencyOptions latency{.batch = args.integer("--batch")};
  if (latency.batch < 1) args.fail("--batch must be at least 1");
  const Config c = load_run_config(run_dir, overrides);
  // The run directory's lock, as `mn train` takes it: the sweep reads the checkpoint a training run
  // would be replacing and writes its reports next to it. Rank 0, the one that writes, holds it.
  FileLock lock;
  if (dist::world().rank() == 0) lock_run_dir(lock, run_dir);
  const std::vector<double> widths = widths_arg.empty() ? c.sweep.widths : parse_widths(widths_arg);
  std::vector<int64_t> resolutions = !resolutions_arg.empty()  ? parse_resolutions(resolutions_arg)
                                     : !c.sweep.resolutions.empty() ? c.sweep.resolutions
                                                                    : c.data.resolutions;
  const int64_t r0 = c.data.resolutions[0];
  MN_CHECK(resolutions[0] <= r0, "sweep: resolution ", resolutions[0], " is larger than the run's largest (", r0,
           "); evaluation downscales from it");
  Experiment ex(c, {.eval_resolutions = carried_resolutions(c, resolutions)});
  ex.load_weights(run_dir, checkpoint);

  std::vector<Subnet> points;
  for (double w : widths)
    for (int64_t r : resolutions) points.push_back({w, r});
  std::printf("mn sweep: %s, %zu widths x %zu resolutions = %zu points on %s (%s)\n", ex.model.spec.name().c_str(),
              widths.size(), resolutions.size(), points.size(), ex.test_set->describe().c_str(), ex.device.str().c_str());
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<EvalResult> results = ex.evaluate(points, [&](size_t i) {
    if (i + 1 == points.size() || (i + 1) % 8 == 0) std::printf("  BN recalibrated for %zu/%zu points\n", i + 1, points.size());
    std::fflush(stdout);
  });
  std::vector<SweepPoint> sweep = with_costs(ex.model, results);
  std::string latency_setup;
  if (args.has("--latency")) {
    latency_setup = ex.device.is_cuda() ? cat("cuda, batch ", latency.batch)
                                        : cat("cpu, ", omp_get_max_threads(), omp_get_max_threads() == 1 ? " thread" : " threads",
                                              ", batch ", latency.batch);
    std::printf("  timing %zu points (%s)\n", sweep.size(), latency_setup.c_str());
    std::fflush(stdout);
    for (SweepPoint& p : sweep) p.latency_ms = latency_ms(ex.model, p.width, p.resolution, ex.device, latency);
  }
  if (ex.comm.rank() == 0) write_sweep_report(run_dir, sweep, c.name, latency_setup);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const bool timed = !latency_setup.empty();
  std::printf("\n  width  resolution    MFLOPs  params (M)   top-1 (%%)  top-5 (%%)%s\n", timed ? "  latency (ms)" : "");
  for (const SweepPoint& p : sweep) {
    std::printf("  %5s  %10lld  %8.2f  %10.3f  %10.2f  %9.2f", width_label(p.width).c_str(),
                static_cast<long long>(p.resolution), p.mflops, p.params_m, p.top1, p.top5);
    if (timed) std::printf("  %12.3f", p.latency_ms);
    std::printf("\n");
  }
  std::printf("\nswept %zu points in %s; query table: %s/query_table.md, plot: %s/tradeoff.svg "
              "(also sweep.csv, sweep.json)\n", points.size(), Progress::duration(seconds).c_str(),
              run_dir.c_str(), run_dir.c_str());
  return 0;
}

}  // namespace mn::cli
