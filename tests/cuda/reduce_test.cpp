// CUDA reductions against the CPU: sum, mean, max, min, argmax, var over short rows (a warp per
// row), long rows (segmented blocks and the merge pass), one huge row, leading/middle dims; argmax
// ties and NaN follow the CPU (first index, NaN wins); int64 sums.
#include <limits>

#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

TEST_CASE("cuda: reductions match the CPU") {
  if (!test::gpu_or_skip()) return;
  struct Case {
    Shape shape;
    std::vector<int> dims;
  };
  const Case cases[] = {{{37, 53}, {1}},        {{37, 53}, {0}},       {{5, 20000}, {1}},
                        {{3, 300000}, {1}},     {{2, 7, 9, 11}, {0, 2, 3}}, {{1 << 21}, {0}},
                        {{128, 100}, {1}},      {{6, 5000}, {0}}};
  const ReduceOp all[] = {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::min,
                          ReduceOp::var, ReduceOp::var_unbiased};
  for (const Case& c : cases) {
    // Nonzero mean: var sees it.
    Tensor x = ops::add_scalar(test::normal_tensor(c.shape, 31, DType::f32, 2.0), 3.0);
    Tensor xg = x.to(gpu());
    for (ReduceOp op : all) {
      const std::string what = cat("op ", static_cast<int>(op), " of ", shape_str(c.shape), " over ", c.dims.size(), " dims");
      // float32 sums in a different order than the CPU's double sums: relative error ~ 1e-6.
      test::check_gpu_close(ops::reduce(op, xg, c.dims), ops::reduce(op, x, c.dims), 2e-5, 1e-5, what);
    }
    if (c.dims.size() == 1)
      test::check_gpu_equal(ops::argmax(xg, c.dims[0]), ops::argmax(x, c.dims[0]),
                            "argmax " + shape_str(c.shape));
  }
}

TEST_CASE("cuda: argmax/max keep the first of equal values and let NaN win") {
  if (!test::gpu_or_skip()) return;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = Tensor::from_vector<float>({1, 5, 5, 2,  3, nan, 7, nan,  -1, -1, -1, -1}, {3, 4});
  test::check_gpu_equal(ops::argmax(x.to(gpu()), 1), ops::argmax(x, 1), "argmax ties and NaN");
  test::check_gpu_equal(ops::max(x.to(gpu()), {1}), ops::max(x, {1}), "max with NaN");
  // A long row with its maximum repeated across segments.
  Tensor y = Tensor::zeros({1, 100000});
  y.slice(1, 70000, 70001).fill_(9.0);
  y.slice(1, 30000, 30001).fill_(9.0);
  CHECK(ops::argmax(y.to(gpu()), 1).item() == 30000);
}

TEST_CASE("cuda: int64 sums and sum_to") {
  if (!test::gpu_or_skip()) return;
  std::vector<int64_t> v(10000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(i % 7) - 3;
  Tensor i = Tensor::from_vector<int64_t>(v, {100, 100});
  test::check_gpu_equal(ops::sum(i.to(gpu()), {0, 1}), ops::sum(i, {0, 1}), "int64 sum");
  Tensor g = test::normal_tensor({16, 8, 4, 4}, 32);
  test::check_gpu_close(ops::sum_to(g.to(gpu()), {1, 8, 1, 1}), ops::sum_to(g, {1, 8, 1, 1}), 1e-5, 1e-5,
                        "sum_to");
}
