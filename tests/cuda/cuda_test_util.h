// Shared by the CUDA-vs-CPU tests: the skip rule, random inputs and the comparisons.
//
// Every test case starts with `if (!test::gpu_or_skip()) return;`. Without a usable GPU (or in a
// build without CUDA) the case reports why as a doctest MESSAGE and passes; with MN_REQUIRE_GPU=1
// in the environment (`make test-gpu`, tools/gpu_check.sh) a missing GPU fails it instead.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tensor/ops.h"

namespace mn::test {

inline bool gpu_or_skip() {
  if (cuda_available()) return true;
#ifdef MN_HAVE_CUDA
  const std::string why = "no CUDA device is visible";
#else
  const std::string why = "this build has no CUDA backend";
#endif
  const char* require = std::getenv("MN_REQUIRE_GPU");
  if (require && std::strcmp(require, "0") != 0) {
    FAIL("MN_REQUIRE_GPU is set but ", why);
    return false;
  }
  MESSAGE("skipped: ", why, " (set MN_REQUIRE_GPU=1 to make this a failure)");
  return false;
}

inline Device gpu() { return Device::cuda(0); }

// Normal(0, scale) values, identical on every run and device.
inline Tensor randn(const Shape& s, uint64_t seed, double scale = 1.0) {
  Generator g(seed);
  Tensor t = Tensor::empty(s, DType::f32);
  ops::normal_(t, 0, scale, g);
  return t;
}

// `t` copied into the leading corner of a larger random tensor: the corner view has rows further
// apart than its own width, like the weight W[:o, :i] of a width-sliced layer.
inline Tensor corner_of_larger(const Tensor& t, int64_t extra0, int64_t extra1, Device device) {
  Shape big_shape = t.shape();
  big_shape[0] += extra0;
  if (big_shape.size() > 1) big_shape[1] += extra1;
  Tensor big = randn(big_shape, 4242).to(device);
  Tensor view = big.slice(0, 0, t.size(0));
  if (t.dim() > 1) view = view.slice(1, 0, t.size(1));
  view.copy_(t.to(device));
  return view;
}

// Element-wise: |gpu - cpu| <= atol + rtol * |cpu| everywhere; reports the worst element.
inline void check_close(const Tensor& gpu_result, const Tensor& cpu_result, double rtol, double atol,
                        const std::string& what) {
  INFO(what);
  REQUIRE(shape_str(gpu_result.shape()) == shape_str(cpu_result.shape()));
  REQUIRE(gpu_result.device().is_cuda());
  const auto a = gpu_result.to(DType::f64).to_vector<double>();
  const auto e = cpu_result.to(DType::f64).to_vector<double>();
  double worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::abs(a[i] - e[i]), bound = atol + rtol * std::abs(e[i]);
    double r = bound > 0 ? err / bound : (err > 0 ? INFINITY : 0.0);
    if (std::isnan(a[i]) != std::isnan(e[i])) r = INFINITY;
    if (std::isnan(a[i]) && std::isnan(e[i])) r = 0;
    if (r > worst) worst = r, worst_at = i;
  }
  INFO("worst element ", worst_at, ": gpu ", (a.empty() ? 0.0 : a[worst_at]), " vs cpu ",
       (e.empty() ? 0.0 : e[worst_at]), " (", worst, " x the bound)");
  CHECK(worst <= 1.0);
}

// Relative to the largest magnitude of the CPU result: for results of long sums (convolutions,
// TF32), where an element near zero carries the absolute error of its larger terms.
inline void check_close_scaled(const Tensor& gpu_result, const Tensor& cpu_result, double rtol,
                               const std::string& what) {
  const auto e = cpu_result.to(DType::f64).to_vector<double>();
  double scale = 0;
  for (double v : e) scale = std::max(scale, std::abs(v));
  check_close(gpu_result, cpu_result, 0.0, rtol * std::max(scale, 1e-30), what);
}

// Exact equality (copies, comparisons, indices).
inline void check_equal(const Tensor& gpu_result, const Tensor& cpu_result, const std::string& what) {
  check_close(gpu_result, cpu_result, 0.0, 0.0, what);
}

}  // namespace mn::test
