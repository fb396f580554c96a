// CUDA elementwise ops against the CPU: every unary and binary op, contiguous (the vectorised
// path, odd lengths for its tail), broadcast, strided and in-place, in float32 (and int64 / float64
// where the CPU has them).
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

TEST_CASE("cuda: unary ops match the CPU") {
  if (!test::gpu_or_skip()) return;
  struct Case {
    UnaryOp op;
    double a, b;
    const char* name;
  };
  const Case cases[] = {{UnaryOp::neg, 0, 0, "neg"},       {UnaryOp::exp, 0, 0, "exp"},
                        {UnaryOp::log, 0, 0, "log"},       {UnaryOp::sqrt, 0, 0, "sqrt"},
                        {UnaryOp::abs, 0, 0, "abs"},       {UnaryOp::relu, 0, 0, "relu"},
                        {UnaryOp::relu6, 0, 0, "relu6"},   {UnaryOp::pow, 3, 0, "pow 3"},
                        {UnaryOp::pow, 0.5, 0, "pow 0.5"}, {UnaryOp::clamp, -0.5, 0.7, "clamp"},
                        {UnaryOp::affine, 2.5, -1, "affine"}};
  for (const Shape& shape : {Shape{1027}, Shape{4, 33, 17}, Shape{}}) {
    Tensor x = test::normal_tensor(shape, 11, DType::f32, 4.0);
    Tensor pos = ops::add_scalar(ops::abs(x), 0.1);  // for log, sqrt, fractional pow
    for (const Case& c : cases) {
      const bool positive = c.op == UnaryOp::log || c.op == UnaryOp::sqrt || c.op == UnaryOp::pow;
      Tensor in = positive ? pos : x;
      test::check_gpu_close(ops::unary(c.op, in.to(gpu()), c.a, c.b), ops::unary(c.op, in, c.a, c.b), 2e-6,
                            1e-30, std::string(c.name) + " " + shape_str(shape));
      // A strided input (transposed view; to() makes contiguous copies) takes the indexed kernel.
      if (shape.size() == 3)
        test::check_gpu_close(ops::unary(c.op, in.to(gpu()).transpose(0, 2), c.a, c.b),
                              ops::unary(c.op, in.transpose(0, 2), c.a, c.b), 2e-6, 1e-30,
                              std::string(c.name) + " strided");
    }
  }
  Tensor i = Tensor::from_vector<int64_t>({-3, 0, 5, 7}, {4});
  test::check_gpu_equal(ops::unary(UnaryOp::neg, i.to(gpu())), ops::unary(UnaryOp::neg, i), "int64 neg");
  test::check_gpu_equal(ops::abs(i.to(gpu())), ops::abs(i), "int64 abs");
}

TEST_CASE("cuda: binary ops match the CPU, with broadcasting and strides") {
  if (!test::gpu_or_skip()) return;
  const BinaryOp ops_all[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div,
                              BinaryOp::max, BinaryOp::min, BinaryOp::eq, BinaryOp::ne,
                              BinaryOp::lt, BinaryOp::le, BinaryOp::gt, BinaryOp::ge,
                              BinaryOp::relu_backward, BinaryOp::relu6_backward};
  struct Shapes {
    Shape a, b;
  };
  const Shapes shapes[] = {{{1029}, {1029}},              // contiguous, vector tail
                           {{8, 3, 5, 6}, {1, 3, 1, 1}},  // per-channel broadcast
                           {{8, 3, 5, 6}, {}},            // scalar
                           {{7, 1, 9}, {1, 4, 1}},        // both sides broadcast
                           {{2, 3, 4, 5, 6}, {6}}};
  for (const Shapes& s : shapes) {
    Tensor a = test::normal_tensor(s.a, 21, DType::f32, 4.0),
           b = test::normal_tensor(s.b, 22, DType::f32, 4.0);
    b = ops::add_scalar(ops::abs(b), 0.25);  // nonzero divisors
    // Make some values equal so the comparisons see ties.
    if (s.a == s.b) a.slice(0, 0, 100).copy_(b.slice(0, 0, 100));
    for (BinaryOp op : ops_all) {
      const std::string what = cat("op ", static_cast<int>(op), " ", shape_str(s.a), " with ", shape_str(s.b));
      test::check_gpu_close(ops::binary(op, a.to(gpu()), b.to(gpu())), ops::binary(op, a, b), 1e-7, 0, what);
    }
  }
  // Non-contiguous operands: a transposed view against a sliced one.
  Tensor a = test::normal_tensor({6, 9}, 23), b = test::normal_tensor({9, 12}, 24);
  Tensor at = a.transpose(0, 1), bs = b.slice(1, 2, 8);
  Tensor ag = a.to(gpu()), bg = b.to(gpu());
  test::check_gpu_close(ops::mul(ag.transpose(0, 1), bg.slice(1, 2, 8)), ops::mul(at, bs), 1e-7, 0,
                        "mul of views");
  // In place, with a broadcast right-hand side.
  Tensor acc = test::normal_tensor({4, 5, 6}, 25), inc = test::normal_tensor({5, 1}, 26);
  Tensor acc_gpu = acc.to(gpu());
  ops::add_(acc_gpu, inc.to(gpu()));
  ops::add_(acc, inc);
  test::check_gpu_close(acc_gpu, acc, 1e-7, 0, "add_ in place");
  // int64 comparisons (accuracy counting) and float64.
  Tensor p = Tensor::from_vector<int64_t>({1, 2, 3, 4, 5}, {5}), q = Tensor::from_vector<int64_t>({1, 0, 3, 9, 5}, {5});
  test::check_gpu_equal(ops::eq(p.to(gpu()), q.to(gpu())), ops::eq(p, q), "int64 eq");
  Tensor d = test::normal_tensor({33}, 27).to(DType::f64), e = test::normal_tensor({33}, 28).to(DType::f64);
  test::check_gpu_close(ops::div(d.to(gpu()), e.to(gpu())), ops::div(d, e), 1e-15, 0, "float64 div");
}
