// Sweep files: CSV/JSON tables, the Pareto query table and the SVG trade-off plot (hand-written
// SVG: axes with nice ticks, one coloured series per resolution, the frontier as a step line).
#include "mutualnet/sweep_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>

#include "io/files.h"
#include "io/json.h"
#include "tensor/error.h"

namespace mn {

namespace {

std::string fmt(const char* spec, double x) {
  char buf[256];
  std::snprintf(buf, sizeof buf, spec, x);
  return buf;
}

// MFLOPs printed with enough digits for both ImageNet (hundreds) and Fashion-MNIST (fractions).
std::string mflops_text(double m) {
  return m >= 100 ? fmt("%.0f", m) : m >= 10 ? fmt("%.1f", m) : fmt("%.2f", m);
}

std::string ms_text(double ms) { return ms >= 100 ? fmt("%.0f", ms) : ms >= 1 ? fmt("%.2f", ms) : fmt("%.3f", ms); }

std::string cost_text(double v, Cost by) { return by == Cost::mflops ? mflops_text(v) : ms_text(v); }

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

// Tick positions covering [lo, hi] with a step of 1, 2 or 5 times a power of ten.
std::vector<double> nice_ticks(double lo, double hi, int target) {
  double span = std::max(hi - lo, 1e-12);
  double raw = span / target;
  double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) { step = m * mag; break; }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

std::string tick_label(double v) {
  if (std::fabs(v - std::round(v)) < 1e-9) return fmt("%.0f", v);
  std::string s = fmt("%.3g", v);
  return s;
}

}  // namespace

std::string width_label(double width) {
  std::string s = fmt("%.3f", width);
  while (s.back() == '0' && s[s.size() - 2] != '.') s.pop_back();
  return s;
}

double cost_of(const SweepPoint& p, Cost by) { return by == Cost::mflops ? p.mflops : p.latency_ms; }

bool has_latency(const std::vector<SweepPoint>& points) {
  return !points.empty() && std::all_of(points.begin(), points.end(), [](const SweepPoint& p) { return p.latency_ms > 0; });
}

std::vector<size_t> pareto_frontier(const std::vector<SweepPoint>& points, Cost by) {
  std::vector<size_t> order(points.size());
  std::iota(order.begin(), order.end(), 0);
  // Cheapest first; at equal cost the most accurate first, so it is the one kept.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (cost_of(points[a], by) != cost_of(points[b], by)) return cost_of(points[a], by) < cost_of(points[b], by);
    return points[a].top1 > points[b].top1;
  });
  std::vector<size_t> frontier;
  double best = -1;
  for (size_t i : order)
    if (points[i].top1 > best) {
      frontier.push_back(i);
      best = points[i].top1;
    }
  return frontier;
}

size_t best_within(const std::vector<SweepPoint>& points, Cost by, double budget) {
  MN_CHECK(by == Cost::mflops || has_latency(points), "no latencies in the sweep results (mn sweep RUN --latency measures them)");
  const std::vector<size_t> frontier = pareto_frontier(points, by);
  MN_CHECK(!frontier.empty(), "no sweep points");
  const SweepPoint& cheapest = points[frontier[0]];
  const char* unit = by == Cost::mflops ? " MFLOPs" : " ms";
  MN_CHECK(cost_of(cheapest, by) <= budget, "budget ", budget, unit, " is below the cheapest point, ", width_label(cheapest.width),
           "-", cheapest.resolution, " at ", cost_text(cost_of(cheapest, by), by), unit);
  size_t best = frontier[0];
  for (size_t i : frontier)
    if (cost_of(points[i], by) <= budget) best = i;
  return best;
}

std::string sweep_csv(const std::vector<SweepPoint>& points) {
  const bool latency = has_latency(points);
  std::string out = std::string("width,resolution,mflops,params_m,top1,top5") + (latency ? ",latency_ms" : "") + "\n";
  for (const auto& p : points)
    out += width_label(p.width) + "," + std::to_string(p.resolution) + "," +
           fmt("%.6g", p.mflops) + "," + fmt("%.6g", p.params_m) + "," + fmt("%.2f", p.top1) +
           "," + fmt("%.2f", p.top5) + (latency ? "," + fmt("%.4g", p.latency_ms) : "") + "\n";
  return out;
}

std::string sweep_json(const std::vector<SweepPoint>& points, const std::string& run_name,
                       const std::string& latency_setup) {
  const bool latency = has_latency(points);
  Json arr = Json::array();
  for (const auto& p : points) {
    Json o = Json::object({{"width", p.width}, {"resolution", p.resolution}, {"mflops", p.mflops},
                           {"params_m", p.params_m}, {"top1", p.top1}, {"top5", p.top5}});
    if (latency) o.set("latency_ms", p.latency_ms);
    arr.push(o);
  }
  auto frontier_json = [&](Cost by) {
    Json frontier = Json::array();
    for (size_t i : pareto_frontier(points, by)) frontier.push(static_cast<int64_t>(i));
    return frontier;
  };
  Json root = Json::object();
  root.set("run", run_name);
  root.set("points", arr);
  root.set("pareto_frontier", frontier_json(Cost::mflops));
  if (latency) {
    root.set("latency_setup", latency_setup);
    root.set("latency_frontier", frontier_json(Cost::latency));
  }
  return root.dump() + "\n";
}

std::vector<SweepPoint> parse_sweep_json(const std::string& text, const std::string& what) {
  Json root = Json::parse(text, what);
  std::vector<SweepPoint> out;
  for (const Json& o : root.at("points").items(what + " points")) {
    SweepPoint p;
    p.width = o.at("width").as_number(what + " width");
    p.resolution = o.at("resolution").as_int(what + " resolution");
    p.mflops = o.at("mflops").as_number(what + " mflops");
    p.params_m = o.at("params_m").as_number(what + " params_m");
    p.top1 = o.at("top1").as_number(what + " top1");
    p.top5 = o.at("top5").as_number(what + " top5");
    if (const Json* l = o.find("latency_ms")) p.latency_ms = l->as_number(what + " latency_ms");
    out.push_back(p);
  }
  return out;
}

std::string query_table_md(const std::vector<SweepPoint>& points, const std::string& run_name,
                           const std::string& latency_setup) {
  std::vector<size_t> frontier = pareto_frontier(points);
  std::string out = "# Query table: " + run_name + "\n\n";
  out += "The most accurate width-resolution configuration for each FLOPs budget (the Pareto\n"
         "frontier of " + std::to_string(points.size()) +
         " swept points; BN recalibrated for every point). A budget in\n"
         "[MFLOPs, next row's MFLOPs) is best served by that row.\n\n";
  out += "| FLOPs budget (MFLOPs) | width-resolution | MFLOPs | params (M) | top-1 (%) | top-5 (%) |\n";
  out += "| --- | --- | ---: | ---: | ---: | ---: |\n";
  for (size_t k = 0; k < frontier.size(); ++k) {
    const SweepPoint& p = points[frontier[k]];
    std::string budget = k + 1 < frontier.size()
                             ? mflops_text(p.mflops) + " – " + mflops_text(points[frontier[k + 1]].mflops)
                             : "≥ " + mflops_text(p.mflops);
    out += "| " + budget + " | " + width_label(p.width) + "-" + std::to_string(p.resolution) +
           " | " + mflops_text(p.mflops) + " | " + fmt("%.3f", p.params_m) + " | " +
           fmt("%.2f", p.top1) + " | " + fmt("%.2f", p.top5) + " |\n";
  }
  if (!has_latency(points)) return out;
  frontier = pareto_frontier(points, Cost::latency);
  out += "\n## By latency budget\n\n"
         "Measured on this machine (" + latency_setup + "): the median time of one forward pass\n"
         "after warm-up. A budget in [latency, next row's latency) is best served by that row. Latency\n"
         "is not proportional to MFLOPs: small sub-networks pay fixed per-layer costs, so the frontier\n"
         "can differ from the FLOPs one. Measure again on the device that will run the model.\n\n";
  out += "| latency budget (ms) | width-resolution | latency (ms) | MFLOPs | top-1 (%) | top-5 (%) |\n";
  out += "| --- | --- | ---: | ---: | ---: | ---: |\n";
  for (size_t k = 0; k < frontier.size(); ++k) {
    const SweepPoint& p = points[frontier[k]];
    std::string budget = k + 1 < frontier.size()
                             ? ms_text(p.latency_ms) + " – " + ms_text(points[frontier[k + 1]].latency_ms)
                             : "≥ " + ms_text(p.latency_ms);
    out += "| " + budget + " | " + width_label(p.width) + "-" + std::to_string(p.resolution) + " | " +
           ms_text(p.latency_ms) + " | " + mflops_text(p.mflops) + " | " + fmt("%.2f", p.top1) + " | " +
           fmt("%.2f", p.top5) + " |\n";
  }
  return out;
}

namespace {

// The plot's geometry and its data -> pixel mapping (x, MFLOPs or latency, on a log axis when it
// spans over 20x).
struct Plot {
  static constexpr double W = 760, H = 520, left = 78, right = 200, top = 50, bottom = 62;
  static constexpr double pw = W - left - right, ph = H - top - bottom;
  double xmin, xmax, ymin, ymax, x0, x1, y0, y1, xpad;
  bool logx;
  Cost by;

  Plot(const std::vector<SweepPoint>& points, Cost by) : by(by) {
    xmin = xmax = cost_of(points[0], by), ymin = ymax = points[0].top1;
    for (const auto& p : points) {
      xmin = std::min(xmin, cost_of(p, by)), xmax = std::max(xmax, cost_of(p, by));
      ymin = std::min(ymin, p.top1), ymax = std::max(ymax, p.top1);
    }
    // A wide FLOPs range (Fashion-MNIST spans 50x) reads better on a log axis.
    logx = xmin > 0 && xmax / xmin > 20;
    x0 = tx(xmin), x1 = tx(xmax);
    xpad = std::max((x1 - x0) * 0.05, 1e-3);
    const double ypad = std::max((ymax - ymin) * 0.08, 0.25);
    x0 -= xpad, x1 += 2.5 * xpad;  // room on the right for the frontier's labels
    y0 = ymin - ypad, y1 = ymax + ypad;
  }
  double tx(double v) const { return logx ? std::log10(v) : v; }
  double sx(double v) const { return left + (tx(v) - x0) / (x1 - x0) * pw; }
  double px(const SweepPoint& p) const { return sx(cost_of(p, by)); }
  double sy(double v) const { return top + (1 - (v - y0) / (y1 - y0)) * ph; }
  double legend_x() const { return left + pw + 18; }
};

std::string svg_line(double x1, double y1, double x2, double y2, const std::string& style) {
  return fmt("<line x1=\"%.1f\"", x1) + fmt(" y1=\"%.1f\"", y1) + fmt(" x2=\"%.1f\"", x2) +
         fmt(" y2=\"%.1f\" ", y2) + style + "/>\n";
}

// Title, grid lines, ticks, frame and axis labels.
std::string svg_axes(const Plot& pl, const std::string& title) {
  const double left = Plot::left, top = Plot::top, pw = Plot::pw, ph = Plot::ph;
  std::string s;
  s += fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\"", Plot::W) +
       fmt(" height=\"%.0f\"", Plot::H) + fmt(" viewBox=\"0 0 %.0f", Plot::W) + fmt(" %.0f\"", Plot::H) +
       " font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += fmt("<text x=\"%.1f\"", left + pw / 2) + fmt(" y=\"%.1f\"", top - 20) +
       " text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">" + xml_escape(title) + "</text>\n";
  std::vector<double> xt;
  if (pl.logx) {
    for (int e = static_cast<int>(std::floor(pl.x0)); e <= static_cast<int>(std::ceil(pl.x1)); ++e)
      for (double m : {1.0, 2.0, 5.0}) {
        double v = m * std::pow(10, e);
        if (pl.tx(v) >= pl.x0 && pl.tx(v) <= pl.x1) xt.push_back(v);
      }
  } else {
    xt = nice_ticks(pl.xmin - pl.xpad, pl.xmax + pl.xpad, 6);
  }
  for (double v : xt) {
    if (!pl.logx && (v < pl.x0 || v > pl.x1)) continue;
    const double x = pl.sx(v);
    s += svg_line(x, top, x, top + ph, "stroke=\"#e4e4e4\"");
    s += svg_line(x, top + ph, x, top + ph + 5, "stroke=\"black\"");
    s += fmt("<text x=\"%.1f\"", x) + fmt(" y=\"%.1f\" text-anchor=\"middle\">", top + ph + 20) + tick_label(v) +
         "</text>\n";
  }
  for (double v : nice_ticks(pl.y0, pl.y1, 8)) {
    const double y = pl.sy(v);
    s += svg_line(left, y, left + pw, y, "stroke=\"#e4e4e4\"");
    s += svg_line(left - 5, y, left, y, "stroke=\"black\"");
    s += fmt("<text x=\"%.1f\"", left - 8) + fmt(" y=\"%.1f\" text-anchor=\"end\">", y + 4) + tick_label(v) +
         "</text>\n";
  }
  s += fmt("<rect x=\"%.1f\"", left) + fmt(" y=\"%.1f\"", top) + fmt(" width=\"%.1f\"", pw) +
       fmt(" height=\"%.1f\" fill=\"none\" stroke=\"black\"/>\n", ph);
  s += fmt("<text x=\"%.1f\"", left + pw / 2) + fmt(" y=\"%.1f\" text-anchor=\"middle\">", Plot::H - 18) +
       std::string(pl.by == Cost::mflops ? "MFLOPs (multiply-adds" : "latency (ms, median") +
       (pl.logx ? ", log scale)" : ")") + "</text>\n";
  s += fmt("<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\"", top + ph / 2) +
       fmt(" transform=\"rotate(-90 18 %.1f)\">Top-1 accuracy (%%)</text>\n", top + ph / 2);
  return s;
}

// One series per resolution (largest first), points joined in order of FLOPs, and a legend
// entry for each from `legend_y` down; legend_y ends below the last entry.
std::string svg_series(const Plot& pl, const std::vector<SweepPoint>& points, double& legend_y) {
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                  "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
  std::map<int64_t, std::vector<const SweepPoint*>, std::greater<>> series;
  for (const auto& p : points) series[p.resolution].push_back(&p);
  std::string s;
  int k = 0;
  for (auto& [res, pts] : series) {
    const std::string color = kColors[k++ % 10];
    std::sort(pts.begin(), pts.end(), [&](auto* a, auto* b) { return cost_of(*a, pl.by) < cost_of(*b, pl.by); });
    std::string path;
    for (const SweepPoint* p : pts) path += fmt(path.empty() ? "M%.1f" : " L%.1f", pl.px(*p)) + fmt(",%.1f", pl.sy(p->top1));
    s += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.5\"/>\n";
    for (const SweepPoint* p : pts)
      s += fmt("<circle cx=\"%.1f\"", pl.px(*p)) + fmt(" cy=\"%.1f\" r=\"3.5\"", pl.sy(p->top1)) + " fill=\"" +
           color + "\"><title>" + width_label(p->width) + "-" + std::to_string(p->resolution) + ": " +
           mflops_text(p->mflops) + " MFLOPs, " + (p->latency_ms > 0 ? ms_text(p->latency_ms) + " ms, " : "") +
           fmt("%.2f%%", p->top1) + "</title></circle>\n";
    const double lx = pl.legend_x(), ly = legend_y;
    s += svg_line(lx, ly, lx + 24, ly, "stroke=\"" + color + "\" stroke-width=\"1.5\"");
    s += fmt("<circle cx=\"%.1f\"", lx + 12) + fmt(" cy=\"%.1f\" r=\"3.5\" fill=\"", ly) + color + "\"/>\n";
    s += fmt("<text x=\"%.1f\"", lx + 32) + fmt(" y=\"%.1f\">", ly + 4) + std::to_string(res) + "×" +
         std::to_string(res) + "</text>\n";
    legend_y += 22;
  }
  return s;
}

// The Pareto frontier: its points circled, labelled and joined, and its legend entry.
std::string svg_frontier(const Plot& pl, const std::vector<SweepPoint>& points, double legend_y) {
  const char* style = "fill=\"none\" stroke=\"black\" stroke-width=\"1.2\"";
  std::string s, path;
  const std::vector<size_t> frontier = pareto_frontier(points, pl.by);
  for (size_t i : frontier)
    path += fmt(path.empty() ? "M%.1f" : " L%.1f", pl.px(points[i])) + fmt(",%.1f", pl.sy(points[i].top1));
  s += "<path d=\"" + path + "\" " + style + " stroke-dasharray=\"5,3\"/>\n";
  for (size_t i : frontier) {
    const SweepPoint& p = points[i];
    s += fmt("<circle cx=\"%.1f\"", pl.px(p)) + fmt(" cy=\"%.1f\" r=\"6\" ", pl.sy(p.top1)) + style + "/>\n";
    s += fmt("<text x=\"%.1f\"", pl.px(p) + 7) + fmt(" y=\"%.1f\" font-size=\"10\"", pl.sy(p.top1) + 14) +
         " fill=\"#333\">" + width_label(p.width) + "-" + std::to_string(p.resolution) + "</text>\n";
  }
  const double lx = pl.legend_x(), ly = legend_y;
  s += svg_line(lx, ly, lx + 24, ly, "stroke=\"black\" stroke-width=\"1.2\" stroke-dasharray=\"5,3\"");
  s += fmt("<circle cx=\"%.1f\"", lx + 12) + fmt(" cy=\"%.1f\" r=\"6\" ", ly) + style + "/>\n";
  s += fmt("<text x=\"%.1f\"", lx + 32) + fmt(" y=\"%.1f\">Pareto frontier</text>\n", ly + 4);
  s += fmt("<text x=\"%.1f\"", lx) + fmt(" y=\"%.1f\" font-size=\"11\" fill=\"#555\">", ly + 28) +
       "labels: width-resolution</text>\n";
  return s;
}

}  // namespace

std::string tradeoff_svg(const std::vector<SweepPoint>& points, const std::string& title, Cost x) {
  MN_CHECK(!points.empty(), "tradeoff plot: no points");
  const Plot plot(points, x);
  double legend_y = Plot::top + 10;
  std::string s = svg_axes(plot, title);
  s += svg_series(plot, points, legend_y);
  s += svg_frontier(plot, points, legend_y);
  return s + "</svg>\n";
}

void write_sweep_report(const std::string& dir, const std::vector<SweepPoint>& points,
                        const std::string& run_name, const std::string& latency_setup) {
  write_file_atomic(dir + "/sweep.csv", sweep_csv(points));
  write_file_atomic(dir + "/sweep.json", sweep_json(points, run_name, latency_setup));
  write_file_atomic(dir + "/query_table.md", query_table_md(points, run_name, latency_setup));
  write_file_atomic(dir + "/tradeoff.svg",
                    tradeoff_svg(points, run_name + ": top-1 accuracy vs. MFLOPs"));
  if (has_latency(points))
    write_file_atomic(dir + "/tradeoff_latency.svg",
                      tradeoff_svg(points, run_name + ": top-1 accuracy vs. latency (" + latency_setup + ")", Cost::latency));
}

}  // namespace mn
