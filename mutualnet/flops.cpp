// Counting sub-network costs with the shape walk, and printing them.
#include "mutualnet/flops.h"

#include <cstdio>

#include "nn/probe.h"

namespace mn {

SubnetCost subnet_cost(models::Model& model, double width, int64_t resolution) {
  MN_CHECK(resolution > 0, "flops: resolution ", resolution, " must be positive");
  WidthScope scope(*model.width, width);
  nn::Tally tally;
  nn::Probe out =
      model.net->trace({{1, model.spec.in_channels, resolution, resolution}, &tally});
  MN_CHECK(out.shape == Shape({1, model.spec.classes}), "flops: ", model.spec.name(),
           " ends in shape ", shape_str(out.shape), ", expected (1, ", model.spec.classes, ")");
  return {width, resolution, tally.macs, tally.params};
}

std::vector<SubnetCost> subnet_costs(models::Model& model, const std::vector<double>& widths,
                                     const std::vector<int64_t>& resolutions) {
  std::vector<SubnetCost> out;
  for (double w : widths)
    for (int64_t r : resolutions) out.push_back(subnet_cost(model, w, r));
  return out;
}

std::vector<SubnetCost> subnet_costs(const models::ModelSpec& spec,
                                     const std::vector<double>& widths,
                                     const std::vector<int64_t>& resolutions) {
  models::Model model = models::make_model(spec);
  return subnet_costs(model, widths, resolutions);
}

CostFormat parse_cost_format(const std::string& s) {
  if (s == "table") return CostFormat::table;
  if (s == "csv") return CostFormat::csv;
  if (s == "json") return CostFormat::json;
  fail("flops: unknown format '", s, "' (expected table, csv or json)");
}

void write_costs(std::ostream& out, const std::string& model_name,
                 const std::vector<SubnetCost>& costs, CostFormat format) {
  char line[160];
  switch (format) {
    case CostFormat::table:
      out << model_name << "\n";
      std::snprintf(line, sizeof line, "%7s %10s %12s %12s\n", "width", "resolution", "MFLOPs",
                    "params (M)");
      out << line;
      for (const auto& c : costs) {
        std::snprintf(line, sizeof line, "%7.3g %10lld %12.1f %12.3f\n", c.width,
                      (long long)c.resolution, c.mflops(), double(c.params) / 1e6);
        out << line;
      }
      break;
    case CostFormat::csv:
      out << "model,width,resolution,macs,mflops,params\n";
      for (const auto& c : costs) {
        std::snprintf(line, sizeof line, "%s,%.6g,%lld,%lld,%.3f,%lld\n", model_name.c_str(),
                      c.width, (long long)c.resolution, (long long)c.macs, c.mflops(),
                      (long long)c.params);
        out << line;
      }
      break;
    case CostFormat::json:
      out << "{\"model\": \"" << model_name << "\", \"subnets\": [";
      for (size_t i = 0; i < costs.size(); ++i) {
        const auto& c = costs[i];
        std::snprintf(line, sizeof line,
                      "%s\n  {\"width\": %.6g, \"resolution\": %lld, \"macs\": %lld, "
                      "\"mflops\": %.3f, \"params\": %lld}",
                      i ? "," : "", c.width, (long long)c.resolution, (long long)c.macs,
                      c.mflops(), (long long)c.params);
        out << line;
      }
      out << "\n]}\n";
      break;
  }
}

}  // namespace mn
