// The width policy: make_divisible exactly as the public code (values computed with its Python
// function), the ratio rule, and the active width's bounds.
#include <doctest/doctest.h>

#include "mutualnet/width.h"
#include "tensor/error.h"

using namespace mn;

TEST_CASE("make_divisible matches the public code's Python function") {
  // make_divisible(v, 8): rounds half up to a multiple of 8, never 10% below v.
  CHECK(make_divisible(32 * 1.0, 8) == 32);
  CHECK(make_divisible(32 * 0.35, 8) == 16);   // 11.2 -> 8 is < 0.9 * 11.2, so 16
  CHECK(make_divisible(64 * 0.35, 8) == 24);   // 22.4 -> int(26.4) // 8 * 8 = 24
  CHECK(make_divisible(1024 * 0.95, 8) == 976);
  CHECK(make_divisible(12.0, 8) == 16);        // exactly half: int(16.0) // 8 * 8
  CHECK(make_divisible(11.99, 8) == 16);
  // The rule's quirk for tiny values: max(1, 0) = 1 is < 0.9 * 3, so 1 + 8 (not a multiple of 8).
  CHECK(make_divisible(3.0, 8) == 9);
  CHECK(make_divisible(160 * 0.25, 4) == 40);
  CHECK(make_divisible(16 * 0.25, 4) == 4);
  CHECK(make_divisible(0.3, 8) == 1);          // the floor of 1 channel
  CHECK_THROWS_AS(make_divisible(10, 0), Error);
}

TEST_CASE("Width: active and largest channel counts, ratio rule, bounds") {
  Width w(8);
  CHECK(w.get() == 1.0);
  CHECK(w.active(32) == 32);
  w.set(0.35);
  CHECK(w.active(32) == 16);
  CHECK(w.largest(32) == 32);
  // MobileNet v2's expanded channels: make_divisible(96 * w / 6) * 6 = make_divisible(16 w) * 6.
  CHECK(w.active(96, 6) == make_divisible(16 * 0.35, 8) * 6);
  // ResNet-50's quarter rule: make_divisible(64 * w / 0.25) * 0.25.
  w.set(0.5);
  CHECK(w.active(64, 0.25) == 32);
  w.set(0.3);
  CHECK(w.active(64, 0.25) == make_divisible(256 * 0.3, 8) / 4);
  CHECK_THROWS_WITH_AS(w.set(1.5), doctest::Contains("1.5 is outside (0, 1]"), Error);
  CHECK_THROWS_AS(w.set(0), Error);
  {
    WidthScope scope(w, 0.75);
    CHECK(w.get() == 0.75);
  }
  CHECK(w.get() == 0.3);
}
