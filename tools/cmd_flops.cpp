// `mn flops`: multiply-adds (the papers' "MFLOPs") and active parameters of every
// (width, resolution) sub-network of a model, counted by walking the model's layers with shapes.
//
//   mn flops --model mobilenet_v1 --widths 1.0,0.75,0.5 --resolutions 224,192 --format csv
//   mn flops --model wrn-28-10 --classes 100
//
// Widths are a list or lo:hi:step; both default to the model's reference recipe.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "mutualnet/config.h"
#include "mutualnet/experiment.h"
#include "mutualnet/flops.h"
#include "tools/commands.h"

namespace mn::cli {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

double to_double(const std::string& s, const char* what) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  MN_CHECK(used == s.size() && !s.empty(), "flops: ", what, " '", s, "' is not a number");
  return v;
}

int64_t to_int(const std::string& s, const char* what) {
  double v = to_double(s, what);
  MN_CHECK(v == std::floor(v) && v > 0, "flops: ", what, " '", s, "' is not a positive integer");
  return static_cast<int64_t>(v);
}

// "1.0,0.75" or "0.25:1.0:0.05" (inclusive, largest first as the papers list them).
std::vector<double> parse_widths(const std::string& s) {
  std::vector<double> out;
  std::vector<std::string> range = split(s, ':');
  if (range.size() == 3) {
    double lo = to_double(range[0], "width"), hi = to_double(range[1], "width"),
           step = to_double(range[2], "width step");
    MN_CHECK(step > 0 && lo <= hi, "flops: width range '", s, "' needs lo <= hi and step > 0");
    for (int64_t i = std::llround(std::floor((hi - lo) / step + 1e-9)); i >= 0; --i) {
      // Through a decimal string, so 0.25 + 2 * 0.05 is the 0.35 a user would type.
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", lo + double(i) * step);
      out.push_back(std::stod(buf));
    }
    return out;
  }
  MN_CHECK(range.size() == 1, "flops: widths '", s, "' are neither a list nor lo:hi:step");
  for (const auto& w : split(s, ',')) out.push_back(to_double(w, "width"));
  return out;
}

}  // namespace

const Spec kFlopsSpec{
    "flops",
    "MFLOPs (multiply-adds) and parameters of every sub-network of a model, without training.",
    {optional_positional("CONFIG", "a training config: its model, width range and resolutions (the options override)"),
     option("--model", "NAME", "a model instead of a config: wrn-DEPTH-WIDEN, mobilenet_v1, mobilenet_v2, resnet50"),
     option("--widths", "LIST|lo:hi:step", "the widths (default: the config's or the recipe's range, step 0.05)"),
     option("--resolutions", "LIST", "the resolutions (default: the config's or the recipe's)"),
     option("--classes", "N", "output classes (default: the config's or the model's)"),
     option("--in-channels", "C", "input channels (default: the config's or the model's)"),
     option("--divisor", "D", "channel counts are multiples of D (default: the config's or the model's)"),
     option("--format", "table|csv|json", "the output format", "table")}};

int cmd_flops(int argc, char** argv) {
  const Args args(kFlopsSpec, argc, argv);
  const std::string config = args.get("CONFIG"), model = args.get("--model"), classes = args.get("--classes"),
                    in_channels = args.get("--in-channels"), divisor = args.get("--divisor"),
                    format = args.get("--format");
  std::string widths = args.get("--widths"), resolutions = args.get("--resolutions");
  if (config.empty() == model.empty()) args.fail("give either CONFIG or --model NAME");

  models::ModelSpec spec;
  if (!config.empty()) {
    // The config's model and its MutualNet grid: the width range in steps of 0.05, its resolutions.
    const Config c = load_config(config);
    spec = model_spec(c);
    if (widths.empty()) widths = cat(c.mutualnet.width_min, ":", c.mutualnet.width_max, ":0.05");
    if (resolutions.empty())
      for (int64_t r : c.data.resolutions) resolutions += (resolutions.empty() ? "" : ",") + std::to_string(r);
  } else {
    spec = models::parse_model_name(model);
  }
  if (!classes.empty()) spec.classes = to_int(classes, "class count");
  if (!in_channels.empty()) spec.in_channels = to_int(in_channels, "input channel count");
  if (!divisor.empty()) spec.divisor = to_int(divisor, "divisor");
  CostFormat fmt = parse_cost_format(format);

  std::vector<double> grid_widths;
  if (widths.empty()) {
    auto [lo, hi] = models::recipe_width_range(spec);
    grid_widths = parse_widths(cat(lo, ":", hi, ":0.05"));
  } else {
    grid_widths = parse_widths(widths);
  }
  std::vector<int64_t> grid_res;
  if (resolutions.empty())
    grid_res = models::recipe_resolutions(spec);
  else
    for (const auto& r : split(resolutions, ',')) grid_res.push_back(to_int(r, "resolution"));

  write_costs(std::cout, spec.name(), subnet_costs(spec, grid_widths, grid_res), fmt);
  return 0;
}

}  // namespace mn::cli
