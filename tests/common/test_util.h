// The helpers every test folder shares: value comparisons (any device), seeded random tensors,
// layouts and convolution arguments, a finite-difference gradient check, temporary directories and
// error messages. Header-only; tests/common holds no *_test.cpp, so CMake builds no binary for it.
#pragma once
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "io/files.h"
#include "tensor/error.h"
#include "tensor/ops.h"

namespace mn::test {

// Element-wise |actual - expected| <= atol + rtol * |expected| (NaN matches only NaN), on any
// devices; reports the worst element. rtol before atol, as numpy's and torch's allclose.
inline void check_close(const Tensor& actual, const Tensor& expected, double rtol, double atol,
                        const std::string& what) {
  INFO(what);
  REQUIRE(shape_str(actual.shape()) == shape_str(expected.shape()));
  const auto a = actual.to(DType::f64).to_vector<double>();
  const auto e = expected.to(DType::f64).to_vector<double>();
  double worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double r = 0;
    if (a[i] != e[i] && !(std::isnan(a[i]) && std::isnan(e[i]))) {
      const double err = std::abs(a[i] - e[i]), bound = atol + rtol * std::abs(e[i]);
      r = bound > 0 ? err / bound : INFINITY;
      if (std::isnan(r)) r = INFINITY;  // one side NaN, or infinities that differ
    }
    if (r > worst) worst = r, worst_at = i;
  }
  INFO("worst element ", worst_at, ": ", (a.empty() ? 0.0 : a[worst_at]), " vs expected ",
       (e.empty() ? 0.0 : e[worst_at]), " (", worst, " x the bound)");
  CHECK(worst <= 1.0);
}

// Relative to the largest magnitude of `expected`: for results of long sums (convolutions, TF32),
// where an element near zero carries the absolute error of its larger terms.
inline void check_close_scaled(const Tensor& actual, const Tensor& expected, double rtol,
                               const std::string& what) {
  const auto e = expected.to(DType::f64).to_vector<double>();
  double scale = 0;
  for (double v : e) scale = std::max(scale, std::abs(v));
  check_close(actual, expected, 0.0, rtol * std::max(scale, 1e-30), what);
}

// Exact equality (copies, comparisons, indices).
inline void check_equal(const Tensor& actual, const Tensor& expected, const std::string& what) {
  check_close(actual, expected, 0.0, 0.0, what);
}

// ||actual - expected|| / ||expected|| over all values, either tensor on any device.
inline double relative_error(const Tensor& actual, const Tensor& expected) {
  const auto a = actual.to(Device::cpu()).contiguous().to_vector<double>();
  const auto e = expected.to(Device::cpu()).contiguous().to_vector<double>();
  REQUIRE(a.size() == e.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - e[i]) * (a[i] - e[i]);
    den += e[i] * e[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> x = a.to(DType::f64).contiguous().to_vector<double>();
  std::vector<double> y = b.to(DType::f64).contiguous().to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// Uniform(lo, hi) and Normal(0, std) values on the CPU, identical on every run.
inline Tensor uniform_tensor(const Shape& s, uint64_t seed, DType dtype = DType::f32, double lo = -1,
                             double hi = 1) {
  Generator g(seed);
  Tensor t = Tensor::empty(s, dtype);
  ops::uniform_(t, lo, hi, g);
  return t;
}

inline Tensor normal_tensor(const Shape& s, uint64_t seed, DType dtype = DType::f32, double std = 1) {
  Generator g(seed);
  Tensor t = Tensor::empty(s, dtype);
  ops::normal_(t, 0, std, g);
  return t;
}

// The same values in a transposed (non-contiguous) layout of the last two dims.
inline Tensor strided(const Tensor& t) {
  return t.transpose(t.dim() - 2, t.dim() - 1).contiguous().transpose(t.dim() - 2, t.dim() - 1);
}

// `t` copied into the leading corner of a larger random tensor on `device`: the corner view has
// rows further apart than its own width, like the weight W[:o, :i] of a width-sliced layer.
inline Tensor corner_of_larger(const Tensor& t, int64_t extra0, int64_t extra1,
                               Device device = Device::cpu()) {
  Shape big_shape = t.shape();
  big_shape[0] += extra0;
  if (big_shape.size() > 1) big_shape[1] += extra1;
  Tensor big = normal_tensor(big_shape, 4242, t.dtype()).to(device);
  Tensor view = big.slice(0, 0, t.size(0));
  if (t.dim() > 1) view = view.slice(1, 0, t.size(1));
  view.copy_(t.to(device));
  return view;
}

inline Conv2dArgs conv_args(int stride, int pad, int dil = 1, int groups = 1) {
  Conv2dArgs a;
  a.stride_h = a.stride_w = stride;
  a.pad_h = a.pad_w = pad;
  a.dil_h = a.dil_w = dil;
  a.groups = groups;
  return a;
}

using Vars = std::vector<Variable>;

// Finite differences against the tape on float64 inputs; reports the first mismatch.
inline void check_grad(const std::function<Variable(const Vars&)>& f, const std::vector<Tensor>& inputs) {
  GradcheckResult r = gradcheck(f, inputs);
  INFO(r.message);
  CHECK(r.ok);
}

// A fresh directory under the system's temp folder, unique to this process, removed with all in
// it when this goes away; with create = false only its path (the code under test must create it).
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& name, bool create = true)
      : path((std::filesystem::temp_directory_path() / cat(name, "_", ::getpid())).string()) {
    std::filesystem::remove_all(path);
    if (create) make_dirs(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path + "/" + name; }
};

// The message of the `E` that `f` throws ("" when it does not throw).
template <class E = Error, class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

}  // namespace mn::test
