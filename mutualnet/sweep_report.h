// The results of a width x resolution sweep and the files made from them: sweep.csv, sweep.json,
// query_table.md (the accuracy-FLOPs Pareto frontier as a budget -> configuration table, the
// shape of the MutualNet paper's tables) and tradeoff.svg (accuracy against MFLOPs, one series
// per resolution, the frontier drawn). With latencies measured (mn sweep --latency) the query
// table gains a table by latency budget, and tradeoff_latency.svg plots accuracy against latency.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mn {

struct SweepPoint {
  double width = 0;
  int64_t resolution = 0;
  double mflops = 0;   // multiply-adds, millions
  double params_m = 0; // active parameters, millions
  double top1 = 0;     // percent
  double top5 = 0;     // percent
  double latency_ms = 0;  // median time of one batch (mn sweep --latency); 0: not measured
};

// What a budget is counted in.
enum class Cost { mflops, latency };
double cost_of(const SweepPoint& p, Cost by);
bool has_latency(const std::vector<SweepPoint>& points);  // every point measured

// Indices of the points on the Pareto frontier, cheapest first: a point is on it when no other
// point is at least as accurate for less or equal cost (ties in both: the first listed wins).
std::vector<size_t> pareto_frontier(const std::vector<SweepPoint>& points, Cost by = Cost::mflops);
// The query: the most accurate point whose cost is within the budget; throws, naming the
// cheapest point, when the budget is below it.
size_t best_within(const std::vector<SweepPoint>& points, Cost by, double budget);

// `latency_setup` says how latencies were measured ("cpu, 2 threads, batch 1"; "" without them).
std::string sweep_csv(const std::vector<SweepPoint>& points);
std::string sweep_json(const std::vector<SweepPoint>& points, const std::string& run_name,
                       const std::string& latency_setup = "");
std::vector<SweepPoint> parse_sweep_json(const std::string& text, const std::string& what);
std::string query_table_md(const std::vector<SweepPoint>& points, const std::string& run_name,
                           const std::string& latency_setup = "");
std::string tradeoff_svg(const std::vector<SweepPoint>& points, const std::string& title, Cost x = Cost::mflops);

// Writes the files into dir (each atomically): sweep.csv, sweep.json, query_table.md,
// tradeoff.svg, and tradeoff_latency.svg when latencies were measured.
void write_sweep_report(const std::string& dir, const std::vector<SweepPoint>& points,
                        const std::string& run_name, const std::string& latency_setup = "");

// "0.25" / "1.0" / "0.975": the width as the paper writes it in "width-resolution".
std::string width_label(double width);

}  // namespace mn
