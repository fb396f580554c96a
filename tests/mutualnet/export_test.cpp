// mn export's pieces: a sliced model at width 1.0 computes what its source computes at the
// exported width, with exactly the sub-network's parameters, and its model.onnx run by
// onnxruntime (PyPI, installed into a venv in the build folder on first use) gives the same
// logits, with and without BN folded, for every architecture of the zoo.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "tests/common/test_util.h"
#include "io/onnx.h"
#include "mutualnet/bn_calibration.h"
#include "mutualnet/experiment.h"
#include "mutualnet/export.h"
#include "mutualnet/flops.h"
#include "nn/graph.h"

namespace mn {

namespace {

// A Python with onnxruntime, or "" when none can be had (offline, no venv module).
std::string onnx_python() {
  const std::string venv = MN_BUILD_DIR "/onnxruntime-venv", python = venv + "/bin/python";
  auto usable = [&] { return std::system((python + " -c 'import onnxruntime' 2>/dev/null").c_str()) == 0; };
  if (!usable())
    [[maybe_unused]] int rc = std::system(("python3 -m venv " + venv + " >/dev/null 2>&1 && " + venv +
                                           "/bin/pip install -q onnxruntime >/dev/null 2>&1").c_str());
  return usable() ? python : "";
}

void write_raw(const std::string& path, const Tensor& t) {
  std::vector<float> v = t.contiguous().to_vector<float>();
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * 4));
}

Tensor read_raw(const std::string& path, const Shape& shape) {
  std::vector<float> v(size_t(shape_numel(shape)));
  std::ifstream f(path, std::ios::binary);
  f.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * 4));
  REQUIRE(f.gcount() == std::streamsize(v.size() * 4));
  return Tensor::from_vector(v, shape);
}

// Trained-looking BN layers: affine parameters and running statistics away from 1 and 0.
void randomize_bn(models::Model& m, uint64_t seed) {
  Generator gen(seed);
  for (nn::BatchNorm2d* bn : batch_norms(m)) {
    ops::uniform_(bn->weight.data(), 0.5, 1.5, gen);
    ops::uniform_(bn->bias.data(), -0.3, 0.3, gen);
    ops::uniform_(bn->running_mean, -0.3, 0.3, gen);
    ops::uniform_(bn->running_var, 0.5, 2.0, gen);
  }
}

}  // namespace

TEST_CASE("export: the sliced model is the sub-network, and onnxruntime agrees with mn") {
  const std::string python = onnx_python();
  if (python.empty()) MESSAGE("onnxruntime comparison skipped: no python3 venv with onnxruntime (pip install failed)");
  test::TempDir dir("mn_export");
  const int64_t r = 32;
  for (const char* name : {"wrn-10-2", "mobilenet_v1", "mobilenet_v2", "resnet50"}) {
    for (double width : {0.35, 1.0}) {
      CAPTURE(name);
      CAPTURE(width);
      models::ModelSpec spec = models::parse_model_name(name);
      spec.classes = 10;
      models::Model full = models::build_model(spec, 7, 8);
      randomize_bn(full, 9);
      full.net->eval();
      full.width->set(width);
      const Tensor x = test::uniform_tensor({2, 3, r, r}, 11, DType::f32, -2, 2);
      NoGradGuard no_grad;
      const Tensor expected = full(Variable(x)).data();

      models::ModelSpec sub_spec = spec;
      sub_spec.base_width = width;
      models::Model sub = slice_model(full, sub_spec);
      sub.net->eval();
      test::check_close_scaled(sub(Variable(x)).data(), expected, 1e-6, "sliced model at width 1.0");
      int64_t params = 0;
      for (const Variable& p : sub.net->parameters()) params += p.numel();
      CHECK(params == subnet_cost(full, width, r).params);  // exactly the sub-network's, no more

      if (python.empty()) continue;
      for (bool fold : {false, true}) {
        CAPTURE(fold);
        nn::Graph g = nn::record_graph(*sub.net, {2, 3, r, r});
        const int folded = fold ? nn::fold_batch_norms(g) : 0;
        if (fold) CHECK(folded > 0);
        write_onnx(dir.file("model.onnx"), g, {{"mean", "0.5,0.5,0.5"}, {"std", "0.25,0.25,0.25"}});
        write_raw(dir.file("x.f32"), x);
        const std::string cmd = cat(python, " ", MN_SOURCE_DIR, "/tests/mutualnet/onnx_run.py ", dir.file("model.onnx"),
                                    " ", dir.file("x.f32"), " ", dir.file("y.f32"), " 2 3 ", r, " ", r);
        REQUIRE(std::system(cmd.c_str()) == 0);
        // float32 rounding of the same sums in another order (and of the folded weights).
        test::check_close_scaled(read_raw(dir.file("y.f32"), {2, 10}), expected, 2e-5, "onnxruntime logits");
        CHECK(read_file(dir.file("y.f32.meta")) == "mean=0.5,0.5,0.5\nstd=0.25,0.25,0.25\n");
      }
    }
  }
}

TEST_CASE("export: the exported config makes width 1.0 the sub-network") {
  Config c;
  c.name = "fm";
  c.mutualnet.width_min = 0.25;
  const Config e = exported_config(c, 0.5, 20);
  CHECK(e.name == "fm-0.5-20");
  CHECK(e.model.base_width == 0.5);
  CHECK(e.mutualnet.width_min == 0.5);  // 0.25 of the source
  CHECK(e.train.bn_calib_batches == 0);
  CHECK(e.sweep.widths == std::vector<double>{1.0});
  CHECK(e.sweep.resolutions == std::vector<int64_t>{20});
  // The model it describes has the source's channel counts at 0.5.
  models::ModelSpec source = model_spec(c), exported = model_spec(e);
  CHECK(subnet_costs(exported, {1.0}, {20}).at(0).params == subnet_costs(source, {0.5}, {20}).at(0).params);
}

}  // namespace mn
