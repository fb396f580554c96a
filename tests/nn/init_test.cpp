// Initialisers: PyTorch's fans, the spread of Kaiming-normal, default-uniform and normal draws,
// constants, and determinism for a seed.
#include <doctest/doctest.h>

#include <cmath>

#include "nn/init.h"

using namespace mn;
using namespace mn::nn;

namespace {

struct Moments {
  double mean, std, max_abs;
};

Moments moments(const Tensor& t) {
  std::vector<float> v = t.contiguous().to_vector<float>();
  double s = 0, s2 = 0, m = 0;
  for (float x : v) s += x, s2 += double(x) * x, m = std::max(m, double(std::abs(x)));
  double mean = s / double(v.size());
  return {mean, std::sqrt(s2 / double(v.size()) - mean * mean), m};
}

}  // namespace

TEST_CASE("fans follow PyTorch: size(1) or size(0) times the receptive field") {
  Tensor conv = Tensor::empty({64, 32, 3, 3}), dw = Tensor::empty({96, 1, 3, 3});
  CHECK(init::fan(conv, init::Fan::in) == 288);
  CHECK(init::fan(conv, init::Fan::out) == 576);
  CHECK(init::fan(dw, init::Fan::out) == 864);  // the public code's n = k*k*out_channels
  CHECK(init::fan(Tensor::empty({10, 640}), init::Fan::in) == 640);
  CHECK_THROWS_WITH_AS(init::fan(Tensor::empty({5}), init::Fan::in),
                       doctest::Contains("fan of a 1-d tensor"), Error);
}

TEST_CASE("Kaiming normal has std sqrt(2 / fan) for either mode") {
  Generator gen(1);
  Tensor w = Tensor::empty({128, 64, 3, 3});
  init::kaiming_normal_(w, init::Fan::out, gen);
  Moments m = moments(w);
  CHECK(std::abs(m.mean) < 0.002);
  CHECK(m.std == doctest::Approx(std::sqrt(2.0 / (128 * 9))).epsilon(0.01));
  init::kaiming_normal_(w, init::Fan::in, gen);
  CHECK(moments(w).std == doctest::Approx(std::sqrt(2.0 / (64 * 9))).epsilon(0.01));
}

TEST_CASE("default uniform is bounded by 1/sqrt(fan_in); normal and constant") {
  Generator gen(2);
  Tensor w = Tensor::empty({100, 400});
  init::default_uniform_(w, gen);
  Moments m = moments(w);
  CHECK(m.max_abs <= 0.05);
  CHECK(m.std == doctest::Approx(0.05 / std::sqrt(3.0)).epsilon(0.01));
  init::normal_(w, 0, 0.01, gen);
  CHECK(moments(w).std == doctest::Approx(0.01).epsilon(0.01));
  init::constant_(w, 0.25);
  m = moments(w);
  CHECK(m.mean == doctest::Approx(0.25));
  CHECK(m.std == doctest::Approx(0).epsilon(1e-6));
}

TEST_CASE("a seed gives the same draws") {
  Generator a(7), b(7);
  Tensor x = Tensor::empty({3, 4, 3, 3}), y = Tensor::empty({3, 4, 3, 3});
  init::kaiming_normal_(x, init::Fan::out, a);
  init::kaiming_normal_(y, init::Fan::out, b);
  CHECK(x.to_vector<float>() == y.to_vector<float>());
}
