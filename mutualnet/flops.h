// FLOPs and parameters of MutualNet sub-networks, counted by walking the model's own layers with
// shapes only (nn::Probe): multiply-adds of convolutions (Cin*Cout*k*k*Hout*Wout/groups), linear
// layers (in*out) and average pooling (C*H*W), per image, exactly as the public MutualNet
// profiler reports them; parameters are those of the active slices (BN included).
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "mutualnet/models/zoo.h"

namespace mn {

struct SubnetCost {
  double width = 1;
  int64_t resolution = 0;
  int64_t macs = 0;    // multiply-adds for one image
  int64_t params = 0;  // active parameters
  double mflops() const { return double(macs) / 1e6; }  // the papers' "MFLOPs" are MACs
};

// One (width, resolution) point of a built model; the model's width is restored afterwards.
SubnetCost subnet_cost(models::Model& model, double width, int64_t resolution);
// Every point of the grid, widths outer, resolutions inner, in the given order.
std::vector<SubnetCost> subnet_costs(models::Model& model, const std::vector<double>& widths,
                                     const std::vector<int64_t>& resolutions);
// The same from a spec (makes the model once; its zero weights are never read).
std::vector<SubnetCost> subnet_costs(const models::ModelSpec& spec,
                                     const std::vector<double>& widths,
                                     const std::vector<int64_t>& resolutions);

enum class CostFormat { table, csv, json };
CostFormat parse_cost_format(const std::string& s);  // "table" | "csv" | "json"
void write_costs(std::ostream& out, const std::string& model_name,
                 const std::vector<SubnetCost>& costs, CostFormat format);

}  // namespace mn
