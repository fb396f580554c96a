// FLOPs and parameter counts of sub-networks: the MutualNet paper's query tables (MobileNet v1/v2
// on ImageNet, within +-1 MFLOP), WideResNet-28-10's 36.5M parameters and ~5.25G multiply-adds,
// and exact counts from shared/reference (ref_flops.py for the MobileNets; the PyTorch reference
// WRN with forward hooks for WRN-16-2 on 28x28 inputs).
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include "mutualnet/flops.h"

using namespace mn;

namespace {

struct Point {
  double width;
  int64_t resolution;
  double mflops;
};

void check_table(const char* name, const std::vector<Point>& table) {
  models::Model model = models::make_model(models::parse_model_name(name));
  for (const Point& p : table) {
    SubnetCost c = subnet_cost(model, p.width, p.resolution);
    INFO(name, " ", p.width, "-", p.resolution, ": ", c.mflops(), " MFLOPs, paper ", p.mflops);
    CHECK(std::abs(c.mflops() - p.mflops) <= 1.0);
  }
}

}  // namespace

TEST_CASE("MobileNet v1 sub-networks reproduce the paper's query table") {
  check_table("mobilenet_v1",
              {{1.0, 224, 569}, {0.95, 224, 518}, {0.9, 224, 466}, {1.0, 192, 418},
               {0.95, 192, 380}, {0.9, 192, 342},  {0.85, 192, 309}, {0.8, 192, 269},
               {0.75, 192, 239}, {0.85, 160, 215}, {0.8, 160, 187},  {0.75, 160, 166},
               {0.7, 160, 146},  {0.65, 160, 127}, {0.6, 160, 111},  {0.5, 160, 76},
               {0.45, 160, 63},  {0.35, 160, 41},  {0.25, 192, 30},  {0.25, 160, 21},
               {0.25, 128, 13}});
}

TEST_CASE("MobileNet v2 sub-networks reproduce the paper's query table") {
  check_table("mobilenet_v2",
              {{1.0, 224, 300}, {0.95, 224, 284}, {0.9, 224, 269}, {0.85, 224, 254},
               {1.0, 192, 221}, {0.95, 192, 209}, {0.9, 192, 198}, {0.85, 192, 187},
               {0.8, 192, 164}, {0.75, 192, 154}, {0.7, 192, 128}, {0.75, 160, 107},
               {0.7, 160, 89},  {0.85, 128, 84},  {0.7, 128, 57}});
}

TEST_CASE("MobileNet counts equal shared/reference/ref_flops.py exactly") {
  // The unrounded values of ref_flops.py's v1() and v2() (python3 -c "... print(v1(1.0, 224))").
  models::Model v1 = models::make_model(models::parse_model_name("mobilenet_v1"));
  CHECK(subnet_cost(v1, 1.0, 224).macs == 568790528);
  CHECK(subnet_cost(v1, 0.35, 160).macs == 41208800);
  CHECK(subnet_cost(v1, 0.25, 128).macs == 13574144);
  models::Model v2 = models::make_model(models::parse_model_name("mobilenet_v2"));
  CHECK(subnet_cost(v2, 1.0, 224).macs == 300836992);
  CHECK(subnet_cost(v2, 0.7, 128).macs == 57582080);
  CHECK(subnet_cost(v2, 0.85, 128).macs == 83885824);
}

TEST_CASE("standard parameter counts of the full-width models") {
  // torchvision / the original papers: MobileNet v1 4.23M, v2 3.50M, ResNet-50 25.56M (4.09G MACs).
  CHECK(subnet_costs(models::parse_model_name("mobilenet_v1"), {1.0}, {224})[0].params == 4231976);
  CHECK(subnet_costs(models::parse_model_name("mobilenet_v2"), {1.0}, {224})[0].params == 3504872);
  SubnetCost r50 = subnet_costs(models::parse_model_name("resnet50"), {1.0}, {224})[0];
  CHECK(r50.params == 25557032);
  CHECK(r50.macs == 4089284608);
}

TEST_CASE("WRN-28-10 on CIFAR-100: 36.5M parameters, about 5.25G multiply-adds") {
  models::ModelSpec spec = models::parse_model_name("wrn-28-10");
  spec.classes = 100;
  std::vector<SubnetCost> c = subnet_costs(spec, {1.0, 0.9}, {32});
  // Both values from the PyTorch reference WRN with forward hooks (+ C*H*W of the final pooling).
  CHECK(c[0].params == 36536884);
  CHECK(c[0].macs == 5243427328);
  CHECK(std::round(c[0].params / 1e5) == 365);
  CHECK(std::abs(c[0].macs / 1e9 - 5.25) < 0.01);
  CHECK(c[1].params == 29604660);
  CHECK(c[1].macs == 4249628928);
}

TEST_CASE("WRN-16-2 on 1x28x28 inputs (divisor 4) equals the PyTorch reference at every point") {
  models::ModelSpec spec = models::parse_model_name("wrn-16-2");
  spec.in_channels = 1;
  spec.classes = 10;
  spec.divisor = 4;
  // ref_mutualnet.py's WRN(16, 2, 1, 10) with forward hooks, Ctx.divisor = 4.
  struct Ref {
    double w;
    int64_t r, macs, params;
  };
  const Ref refs[] = {{1.0, 28, 77190784, 691386},  {1.0, 16, 25206016, 691386},
                      {0.75, 24, 31917120, 389518}, {0.5, 20, 9861440, 173666},
                      {0.25, 28, 4847008, 43830},   {0.25, 16, 1582912, 43830}};
  models::Model model = models::make_model(spec);
  for (const Ref& r : refs) {
    SubnetCost c = subnet_cost(model, r.w, r.r);
    INFO(r.w, "-", r.r);
    CHECK(c.macs == r.macs);
    CHECK(c.params == r.params);
  }
}

TEST_CASE("the count restores the model's width and rejects impossible points") {
  models::Model model = models::make_model(models::parse_model_name("mobilenet_v2"));
  model.width->set(0.8);
  subnet_cost(model, 1.0, 224);
  CHECK(model.width->get() == 0.8);
  CHECK_THROWS_WITH_AS(subnet_cost(model, 1.2, 224), doctest::Contains("outside (0, 1]"), Error);
  CHECK_THROWS_AS(subnet_cost(model, 1.0, 0), Error);
}

TEST_CASE("costs print as table, CSV and JSON") {
  std::vector<SubnetCost> costs = {{1.0, 224, 568740352, 4231976}, {0.25, 128, 13600000, 470072}};
  std::ostringstream csv, json, table;
  write_costs(csv, "mobilenet_v1", costs, CostFormat::csv);
  CHECK(csv.str() ==
        "model,width,resolution,macs,mflops,params\n"
        "mobilenet_v1,1,224,568740352,568.740,4231976\n"
        "mobilenet_v1,0.25,128,13600000,13.600,470072\n");
  write_costs(json, "mobilenet_v1", costs, CostFormat::json);
  CHECK(json.str().find("{\"width\": 0.25, \"resolution\": 128, \"macs\": 13600000, "
                        "\"mflops\": 13.600, \"params\": 470072}") != std::string::npos);
  write_costs(table, "mobilenet_v1", costs, CostFormat::table);
  CHECK(table.str().find("568.7") != std::string::npos);
  CHECK(parse_cost_format("json") == CostFormat::json);
  CHECK_THROWS_WITH_AS(parse_cost_format("xml"), doctest::Contains("'xml'"), Error);
}
