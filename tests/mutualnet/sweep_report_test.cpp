// Sweep files: CSV and JSON parse back to the points, the query table lists exactly the Pareto
// frontier (checked against a brute-force definition) with the budgets it serves, and the SVG is
// well-formed with one series per resolution.
#include <doctest/doctest.h>

#include <sstream>

#include "io/files.h"
#include "mutualnet/sweep_report.h"
#include "tests/common/test_util.h"

using namespace mn;

namespace {

// A 4 x 4 grid shaped like a real sweep: FLOPs ~ w^2 r^2, accuracy rising with both but not
// monotonically in FLOPs, so some points are dominated.
std::vector<SweepPoint> grid() {
  std::vector<SweepPoint> pts;
  for (double w : {1.0, 0.75, 0.5, 0.25})
    for (int64_t r : {28, 24, 20, 16}) {
      SweepPoint p;
      p.width = w;
      p.resolution = r;
      p.mflops = 9.0 * w * w * r * r / (28.0 * 28.0);
      p.params_m = 0.3 * w * w;
      p.top1 = 80 + 8 * w + 0.2 * r + ((r == 20 && w == 0.75) ? -3 : 0);
      p.top5 = 99;
      pts.push_back(p);
    }
  return pts;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  return out;
}

}  // namespace

TEST_CASE("sweep: the frontier is exactly the set of non-dominated points") {
  auto pts = grid();
  auto frontier = pareto_frontier(pts);
  for (size_t i = 0; i < pts.size(); ++i) {
    bool dominated = false;
    for (size_t j = 0; j < pts.size(); ++j)
      if (j != i && pts[j].mflops <= pts[i].mflops && pts[j].top1 >= pts[i].top1 &&
          (pts[j].mflops < pts[i].mflops || pts[j].top1 > pts[i].top1))
        dominated = true;
    bool on = std::find(frontier.begin(), frontier.end(), i) != frontier.end();
    INFO("point ", i, " ", pts[i].width, "-", pts[i].resolution);
    CHECK(on == !dominated);
  }
  for (size_t k = 1; k < frontier.size(); ++k) {
    CHECK(pts[frontier[k]].mflops > pts[frontier[k - 1]].mflops);
    CHECK(pts[frontier[k]].top1 > pts[frontier[k - 1]].top1);
  }
  // The cheapest and the most accurate points are always on it.
  CHECK(pts[frontier.front()].width == 0.25);
  CHECK(pts[frontier.front()].resolution == 16);
  CHECK(pts[frontier.back()].width == 1.0);
  CHECK(pts[frontier.back()].resolution == 28);
}

TEST_CASE("sweep: files parse back and the query table is the frontier") {
  auto pts = grid();
  const test::TempDir dir("mn_sweep_report_test");
  write_sweep_report(dir.path, pts, "demo");

  auto csv = split(read_file(dir.path + "/sweep.csv"), '\n');
  REQUIRE(csv.size() == pts.size() + 1);
  CHECK(csv[0] == "width,resolution,mflops,params_m,top1,top5");
  for (size_t i = 0; i < pts.size(); ++i) {
    auto f = split(csv[i + 1], ',');
    REQUIRE(f.size() == 6);
    CHECK(std::stod(f[0]) == doctest::Approx(pts[i].width));
    CHECK(std::stoll(f[1]) == pts[i].resolution);
    CHECK(std::stod(f[2]) == doctest::Approx(pts[i].mflops).epsilon(1e-5));
    CHECK(std::stod(f[4]) == doctest::Approx(pts[i].top1).epsilon(1e-4));
  }

  auto back = parse_sweep_json(read_file(dir.path + "/sweep.json"), "sweep.json");
  REQUIRE(back.size() == pts.size());
  for (size_t i = 0; i < pts.size(); ++i) {
    CHECK(back[i].width == pts[i].width);
    CHECK(back[i].resolution == pts[i].resolution);
    CHECK(back[i].mflops == pts[i].mflops);
    CHECK(back[i].top1 == pts[i].top1);
  }

  // Table rows (after the header and the separator) are the frontier, cheapest first, each
  // serving budgets from its own MFLOPs up to the next row's.
  auto frontier = pareto_frontier(pts);
  std::vector<std::string> rows;
  for (const auto& line : split(read_file(dir.path + "/query_table.md"), '\n'))
    if (line.rfind("| ", 0) == 0 && line.rfind("| ---", 0) != 0) rows.push_back(line);
  REQUIRE(rows.size() == frontier.size() + 1);
  CHECK(rows[0].find("width-resolution") != std::string::npos);
  for (size_t k = 0; k < frontier.size(); ++k) {
    const SweepPoint& p = pts[frontier[k]];
    auto cells = split(rows[k + 1], '|');
    REQUIRE(cells.size() == 7);
    std::string wr = width_label(p.width) + "-" + std::to_string(p.resolution);
    CHECK(cells[2] == " " + wr + " ");
    CHECK(std::stod(cells[3]) == doctest::Approx(p.mflops).epsilon(0.01));
    CHECK(std::stod(cells[5]) == doctest::Approx(p.top1).epsilon(1e-4));
    if (k + 1 < frontier.size()) CHECK(cells[1].find(" – ") != std::string::npos);
    else CHECK(cells[1].find("≥") != std::string::npos);
  }

  std::string svg = read_file(dir.path + "/tradeoff.svg");
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  for (const char* label : {"28×28", "24×24", "20×20", "16×16", "Pareto frontier", "MFLOPs",
                            "Top-1 accuracy"})
    CHECK(svg.find(label) != std::string::npos);
  // Well-formed: every opened element is closed.
  size_t opens = 0, closes = 0;
  for (size_t i = 0; (i = svg.find('<', i)) != std::string::npos; ++i) {
    size_t end = svg.find('>', i);
    REQUIRE(end != std::string::npos);
    if (svg[i + 1] == '/') ++closes;
    else if (svg[end - 1] != '/') ++opens;
  }
  CHECK(opens == closes);
}

TEST_CASE("sweep: width labels read like the paper's") {
  CHECK(width_label(1.0) == "1.0");
  CHECK(width_label(0.25) == "0.25");
  CHECK(width_label(0.975) == "0.975");
  CHECK(width_label(0.5000000001) == "0.5");
}

TEST_CASE("sweep: budgets pick the most accurate point within them, by MFLOPs or latency") {
  std::vector<SweepPoint> pts = grid();
  // Latency with a fixed cost per pass: the order of cost is the same as FLOPs except that the
  // two narrowest widths cost about the same, so the latency frontier skips 0.25 at 28.
  for (SweepPoint& p : pts) p.latency_ms = 0.1 + p.mflops / 10 + (p.width == 0.25 ? 0.05 : 0);
  const std::vector<size_t> by_flops = pareto_frontier(pts), by_ms = pareto_frontier(pts, Cost::latency);
  for (size_t k = 0; k < by_flops.size(); ++k) {
    const SweepPoint& p = pts[by_flops[k]];
    CHECK(best_within(pts, Cost::mflops, p.mflops) == by_flops[k]);  // a budget exactly at a point buys it
    if (k + 1 < by_flops.size())
      CHECK(best_within(pts, Cost::mflops, (p.mflops + pts[by_flops[k + 1]].mflops) / 2) == by_flops[k]);
  }
  CHECK(best_within(pts, Cost::mflops, 1e9) == by_flops.back());
  for (size_t i : by_ms) CHECK(best_within(pts, Cost::latency, pts[i].latency_ms) == i);
  const SweepPoint& cheapest = pts[by_flops[0]];
  CHECK(test::error_of([&] { best_within(pts, Cost::mflops, cheapest.mflops / 2); }) ==
        cat("budget ", cheapest.mflops / 2, " MFLOPs is below the cheapest point, 0.25-16 at 0.18 MFLOPs"));
  CHECK(test::error_of([&] { best_within(grid(), Cost::latency, 5); }) ==
        "no latencies in the sweep results (mn sweep RUN --latency measures them)");

  // The files carry latency only when measured: a column, a field, a second table and plot.
  CHECK(sweep_csv(grid()).find("latency") == std::string::npos);
  CHECK(split(sweep_csv(pts), '\n')[0] == "width,resolution,mflops,params_m,top1,top5,latency_ms");
  const std::vector<SweepPoint> back = parse_sweep_json(sweep_json(pts, "t", "cpu, 2 threads, batch 1"), "t");
  for (size_t i = 0; i < pts.size(); ++i) CHECK(back[i].latency_ms == pts[i].latency_ms);
  const std::string md = query_table_md(pts, "t", "cpu, 2 threads, batch 1");
  CHECK(query_table_md(grid(), "t").find("latency") == std::string::npos);
  const size_t section = md.find("## By latency budget");
  REQUIRE(section != std::string::npos);
  CHECK(md.find("(cpu, 2 threads, batch 1)", section) != std::string::npos);
  size_t table_lines = 0;  // the header, the rule, one row per frontier point
  for (const std::string& line : split(md.substr(section), '\n')) table_lines += line.starts_with("| ");
  CHECK(table_lines == 2 + by_ms.size());
  CHECK(tradeoff_svg(pts, "t", Cost::latency).find("latency (ms, median") != std::string::npos);
}
