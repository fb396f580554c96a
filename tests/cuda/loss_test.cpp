// CUDA losses against the CPU: cross-entropy with and without label smoothing, KL distillation at
// several logit scales; forward (loss and saved probabilities) and backward (upstream gradient
// read from device memory).
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

namespace {

Tensor labels_for(int64_t n, int64_t k, uint64_t seed) {
  Generator g(seed);
  std::vector<int64_t> v(n);
  for (auto& e : v) e = g.randint(0, k - 1);
  return Tensor::from_vector<int64_t>(v, {n});
}

}  // namespace

TEST_CASE("cuda: cross-entropy matches the CPU") {
  if (!test::gpu_or_skip()) return;
  for (Shape s : {Shape{5, 7}, Shape{128, 100}, Shape{64, 1000}, Shape{8, 3000}}) {
    for (double smoothing : {0.0, 0.1}) {
      const std::string what = shape_str(s) + cat(" smoothing ", smoothing);
      Tensor logits = test::normal_tensor(s, 121, DType::f32, 3.0), labels = labels_for(s[0], s[1], 122);
      auto c = ops::cross_entropy_forward(logits, labels, smoothing);
      auto g = ops::cross_entropy_forward(logits.to(gpu()), labels.to(gpu()), smoothing);
      test::check_gpu_close(g.loss, c.loss, 1e-5, 0, what + " loss");
      test::check_gpu_close(g.probs, c.probs, 1e-5, 1e-8, what + " probs");
      Tensor dloss = Tensor::scalar(0.7);
      test::check_gpu_close(
          ops::cross_entropy_backward(g.probs, labels.to(gpu()), smoothing, dloss.to(gpu())),
          ops::cross_entropy_backward(c.probs, labels, smoothing, dloss), 1e-5, 1e-9, what + " dlogits");
    }
  }
}

TEST_CASE("cuda: KL distillation loss matches the CPU") {
  if (!test::gpu_or_skip()) return;
  for (Shape s : {Shape{4, 6}, Shape{128, 100}, Shape{32, 2000}}) {
    for (double scale : {1.0, 20.0}) {
      const std::string what = shape_str(s) + cat(" scale ", scale);
      Tensor student = test::normal_tensor(s, 131, DType::f32, scale),
             teacher = test::normal_tensor(s, 132, DType::f32, scale);
      auto c = ops::kl_div_forward(student, teacher);
      auto g = ops::kl_div_forward(student.to(gpu()), teacher.to(gpu()));
      test::check_gpu_close(g.loss, c.loss, 1e-4, 1e-6, what + " loss");
      test::check_gpu_close(g.probs, c.probs, 1e-4, 1e-8, what + " student probs");
      test::check_gpu_close(g.target, c.target, 1e-4, 1e-8, what + " teacher probs");
      Tensor dloss = Tensor::scalar(1.3);
      test::check_gpu_close(ops::kl_div_backward(g.probs, g.target, dloss.to(gpu())),
                            ops::kl_div_backward(c.probs, c.target, dloss), 1e-4, 1e-8, what + " dstudent");
    }
  }
  // A student close to its teacher (late in distillation): KL ~5e-5 is a small difference of
  // terms near -7, kept to 1e-5 of its value only by double sums (float ones were 1e-3 off).
  Tensor teacher = test::normal_tensor({128, 1000}, 133, DType::f32, 3.0);
  Tensor student = ops::add(teacher, test::normal_tensor({128, 1000}, 134, DType::f32, 0.01));
  auto c = ops::kl_div_forward(student, teacher);
  auto g = ops::kl_div_forward(student.to(gpu()), teacher.to(gpu()));
  test::check_gpu_close(g.loss, c.loss, 1e-5, 1e-12, "close student: loss");
}
