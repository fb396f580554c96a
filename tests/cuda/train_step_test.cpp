// A MutualNet training step in miniature, run through autograd on the CPU and on the GPU from the
// same initial values: a slimmable pre-activation residual network (stem conv, one strided block
// with a 1x1 shortcut, BN, global pooling, linear), the widest network on 16x16 with cross-entropy,
// two narrower ones on bilinear downscales with KL distillation from the detached widest logits,
// then one Nesterov SGD step. Losses, every accumulated gradient of the shared full-width
// parameters, the running statistics and the updated parameters must agree (TF32 off). Once with
// NCHW activations and once channels-last (NHWC), where every activation between the
// ops must stay channels-last (the activations are checked).
// The lead's full-model comparison (WRN-16-2) builds on the same pattern once the model zoo exists.
#include "autograd/functions.h"
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

namespace {

int64_t make_divisible(double v, int64_t d = 4) {
  int64_t n = std::max<int64_t>(d, static_cast<int64_t>(v + d / 2.0) / d * d);
  return n < 0.9 * v ? n + d : n;
}

struct Bn {
  Variable gamma, beta;
  Tensor mean, var;
};

struct Net {
  static constexpr int64_t kStem = 16, kWide = 32, kClasses = 10;
  Variable stem, conv1, conv2, shortcut, fc_w, fc_b;
  Bn bn1, bn2, bn_out;

  static Variable param(const Tensor& t, Device d) { return Variable(t.to(d), true); }
  static Bn bn(int64_t c, uint64_t seed, Device d) {
    return {param(ops::add_scalar(test::normal_tensor({c}, seed, DType::f32, 0.1), 1.0), d),
            param(test::normal_tensor({c}, seed + 1, DType::f32, 0.1), d),
            Tensor::zeros({c}, DType::f32, d), Tensor::ones({c}, DType::f32, d)};
  }

  explicit Net(Device d)
      : stem(param(test::normal_tensor({kStem, 3, 3, 3}, 1, DType::f32, 0.3), d)),
        conv1(param(test::normal_tensor({kWide, kStem, 3, 3}, 2, DType::f32, 0.1), d)),
        conv2(param(test::normal_tensor({kWide, kWide, 3, 3}, 3, DType::f32, 0.08), d)),
        shortcut(param(test::normal_tensor({kWide, kStem, 1, 1}, 4, DType::f32, 0.25), d)),
        fc_w(param(test::normal_tensor({kClasses, kWide}, 5, DType::f32, 0.2), d)),
        fc_b(param(test::normal_tensor({kClasses}, 6, DType::f32, 0.1), d)),
        bn1(bn(kStem, 10, d)), bn2(bn(kWide, 20, d)), bn_out(bn(kWide, 30, d)) {}

  std::vector<Variable> params() const {
    return {stem, conv1, conv2, shortcut, fc_w, fc_b, bn1.gamma, bn1.beta, bn2.gamma, bn2.beta,
            bn_out.gamma, bn_out.beta};
  }

  static Variable norm(const Variable& x, const Bn& b, int64_t c) {
    return batch_norm(x, b.gamma.slice(0, 0, c), b.beta.slice(0, 0, c), b.mean.slice(0, 0, c),
                      b.var.slice(0, 0, c), true, 0.1, 1e-5);
  }
  static Variable weight(const Variable& w, int64_t o, int64_t i) { return w.slice(0, 0, o).slice(1, 0, i); }

  Variable forward(const Variable& x, double width) const {
    const int64_t c0 = make_divisible(kStem * width), c1 = make_divisible(kWide * width);
    Variable h = conv2d(x, weight(stem, c0, 3), std::nullopt, test::conv_args(1, 1));
    Variable a = relu(norm(h, bn1, c0));
    Variable out = conv2d(a, weight(conv1, c1, c0), std::nullopt, test::conv_args(2, 1));
    out = conv2d(relu(norm(out, bn2, c1)), weight(conv2, c1, c1), std::nullopt, test::conv_args(1, 1));
    h = out + conv2d(a, weight(shortcut, c1, c0), std::nullopt, test::conv_args(2, 0));
    for (const Variable* v : {&a, &out, &h}) in_layout(*v);
    h = adaptive_avg_pool2d(relu(norm(h, bn_out, c1)), 1, 1).flatten(1);
    return linear(h, fc_w.slice(1, 0, c1), fc_b);
  }

  // An activation is in its device's layout (no op handed back another).
  static void in_layout(const Variable& v) {
    const MemoryFormat f = backend(v.device()).memory_format();
    CHECK_MESSAGE(v.data().is_contiguous(f), "activation ", shape_str(v.shape()), " strides ",
                  shape_str(v.data().strides()));
  }
};

struct StepResult {
  std::vector<double> losses;
};

// The sandwich step on `net`'s device: widest on 16x16 with CE, then 0.75 at 12 and 0.5 at 8 by KL.
StepResult train_step(Net& net, const Tensor& images, const Tensor& labels) {
  StepResult r;
  const Device d = net.stem.device();
  Variable x(images.to(d));
  Tensor y = labels.to(d);
  Variable logits = net.forward(x, 1.0);
  Variable ce = cross_entropy(logits, y, 0.1);
  ce.backward();
  r.losses.push_back(ce.data().item());
  const Tensor teacher = logits.detach().data();
  for (auto [width, res] : {std::pair{0.75, 12}, std::pair{0.5, 8}}) {
    Variable xs = resize_bilinear(x, res, res, true);
    Variable kl = kl_div(net.forward(xs, width), teacher);
    kl.backward();
    r.losses.push_back(kl.data().item());
  }
  return r;
}

void check_step(MemoryFormat format) {
  test::MemoryFormatGuard layout(format);
  backend(gpu()).set_precision(Precision::fp32);
  Net cpu(Device::cpu()), dev(gpu());
  const Tensor images = test::normal_tensor({8, 3, 16, 16}, 40);
  std::vector<int64_t> label_values{0, 3, 9, 1, 4, 4, 7, 2};
  const Tensor labels = Tensor::from_vector<int64_t>(label_values, {8});

  const StepResult rc = train_step(cpu, images, labels), rg = train_step(dev, images, labels);
  for (size_t i = 0; i < rc.losses.size(); ++i) {
    INFO("loss ", i, ": cpu ", rc.losses[i], " gpu ", rg.losses[i]);
    CHECK(std::abs(rg.losses[i] - rc.losses[i]) <= 1e-4 * std::max(1.0, std::abs(rc.losses[i])));
  }
  const auto pc = cpu.params(), pg = dev.params();
  for (size_t i = 0; i < pc.size(); ++i) {
    REQUIRE(pg[i].grad().defined());
    test::check_gpu_close_scaled(pg[i].grad(), pc[i].grad(), 2e-3, cat("gradient of parameter ", i));
  }
  for (auto [bc, bg] : {std::pair{&cpu.bn1, &dev.bn1}, std::pair{&cpu.bn2, &dev.bn2}, std::pair{&cpu.bn_out, &dev.bn_out}}) {
    test::check_gpu_close(bg->mean, bc->mean, 1e-3, 1e-5, "running mean");
    test::check_gpu_close(bg->var, bc->var, 1e-3, 1e-5, "running var");
  }

  SgdArgs a;
  a.lr = 0.1;
  a.momentum = 0.9;
  a.nesterov = true;
  a.first_step = true;
  std::vector<SgdParam> sc, sg;
  for (size_t i = 0; i < pc.size(); ++i) {
    sc.push_back({pc[i].data(), pc[i].grad(), Tensor::zeros(pc[i].shape()), 5e-4});
    sg.push_back({pg[i].data(), pg[i].grad(), Tensor::zeros(pg[i].shape(), DType::f32, gpu()), 5e-4});
  }
  ops::sgd_step(sc, a);
  ops::sgd_step(sg, a);
  for (size_t i = 0; i < pc.size(); ++i)
    test::check_gpu_close_scaled(pg[i].data(), pc[i].data(), 1e-4, cat("updated parameter ", i));
  backend(gpu()).set_precision(Precision::tf32);
}

}  // namespace

TEST_CASE("cuda: a MutualNet step through autograd matches the CPU: losses, gradients, update") {
  if (!test::gpu_or_skip()) return;
  check_step(MemoryFormat::contiguous);
}

TEST_CASE("cuda: the MutualNet step with channels-last activations matches the CPU") {
  if (!test::gpu_or_skip()) return;
  check_step(MemoryFormat::channels_last);
}
