// The results of a width x resolution sweep and the files made from them: sweep.csv, sweep.json,
// query_table.md (the accuracy-FLOPs Pareto frontier as a budget -> configuration table, the
// shape of the MutualNet paper's tables) and tradeoff.svg (accuracy against MFLOPs, one series
// per resolution, the frontier drawn).
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
};

// Indices of the points on the Pareto frontier, cheapest first: a point is on it when no other
// point is at least as accurate for fewer or equal FLOPs (ties in both: the first listed wins).
std::vector<size_t> pareto_frontier(const std::vector<SweepPoint>& points);

std::string sweep_csv(const std::vector<SweepPoint>& points);
std::string sweep_json(const std::vector<SweepPoint>& points, const std::string& run_name);
std::vector<SweepPoint> parse_sweep_json(const std::string& text, const std::string& what);
std::string query_table_md(const std::vector<SweepPoint>& points, const std::string& run_name);
std::string tradeoff_svg(const std::vector<SweepPoint>& points, const std::string& title);

// Writes the four files into dir (each atomically).
void write_sweep_report(const std::string& dir, const std::vector<SweepPoint>& points,
                        const std::string& run_name);

// "0.25" / "1.0" / "0.975": the width as the paper writes it in "width-resolution".
std::string width_label(double width);

}  // namespace mn
