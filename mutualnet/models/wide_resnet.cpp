// WideResNet-D-K as the public MutualNet code (and shared/reference/ref_mutualnet.py) builds it:
// a 3x3 stem conv to 16 channels, three groups of n = (D - 4) / 6 pre-activation basic blocks
// with 16K, 32K, 64K channels (strides 1, 2, 2), a final BN + ReLU, global average pooling and
// the classifier. A block whose width changes projects its (activated) input with a 1x1 conv.
// Parameter names follow the reference: conv1, blocks.<i>.{bn1,conv1,bn2,conv2,short}, bn, fc.
#include "autograd/functions.h"
#include "mutualnet/models/zoo.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/linear.h"

namespace mn::models {

namespace {

class WrnBlock : public nn::Module {
 public:
  WrnBlock(int64_t in, int64_t out, int stride, double dropout, const std::shared_ptr<Width>& width)
      : bn1(in, 1, width),
        conv1(in, out, 3, {.stride = stride, .padding = 1}, width),
        bn2(out, 1, width),
        conv2(out, out, 3, {.padding = 1}, width),
        drop(dropout) {  // seeded by init_model
    register_module("bn1", bn1);
    register_module("conv1", conv1);
    register_module("bn2", bn2);
    register_module("conv2", conv2);
    if (in != out) {
      shortcut = std::make_shared<nn::Conv2d>(in, out, 1, nn::Conv2dOptions{.stride = stride},
                                              width);
      register_module("short", shortcut);
    }
    register_module("dropout", drop);
  }

  Variable forward(const Variable& x) override { return run(x); }
  nn::Probe trace(const nn::Probe& x) override { return run(x); }

 private:
  template <class X>
  X run(const X& x) {
    // relu(bn(.)) as one fused op each time (nn::BatchNorm2d::forward_relu).
    if (!shortcut) return x + conv2(drop(bn2.forward_relu(conv1(bn1.forward_relu(x)))));
    // Changing width: the shortcut sees the pre-activated input, as in the public code.
    X a = bn1.forward_relu(x);
    return (*shortcut)(a) + conv2(drop(bn2.forward_relu(conv1(a))));
  }

  nn::BatchNorm2d bn1;
  nn::Conv2d conv1;
  nn::BatchNorm2d bn2;
  nn::Conv2d conv2;
  nn::Dropout drop;
  std::shared_ptr<nn::Conv2d> shortcut;  // (out, in, 1, 1) when in != out
};

class WideResNet : public nn::Module {
 public:
  WideResNet(const ModelSpec& spec, const std::shared_ptr<Width>& width)
      : conv1(spec.in_channels, 16, 3, {.padding = 1, .slim_in = false}, width),
        bn(64 * spec.widen, 1, width),
        fc(64 * spec.widen, spec.classes, {.slim_out = false}, width) {
    MN_CHECK(spec.depth >= 10 && (spec.depth - 4) % 6 == 0 && spec.widen >= 1,
             "wide_resnet: depth ", spec.depth, " is not 6n + 4 (n >= 1) or widen factor ",
             spec.widen, " < 1");
    const int n = (spec.depth - 4) / 6;
    const int64_t channels[4] = {16, 16 * spec.widen, 32 * spec.widen, 64 * spec.widen};
    const int strides[3] = {1, 2, 2};
    for (int g = 0; g < 3; ++g)
      for (int b = 0; b < n; ++b)
        blocks.push_back(std::make_shared<WrnBlock>(b == 0 ? channels[g] : channels[g + 1],
                                                    channels[g + 1], b == 0 ? strides[g] : 1,
                                                    spec.dropout, width));
    register_module("conv1", conv1);
    register_module("blocks", blocks);
    register_module("bn", bn);
    register_module("fc", fc);
  }

  Variable forward(const Variable& x) override { return run(x); }
  nn::Probe trace(const nn::Probe& x) override { return run(x); }

 private:
  template <class X>
  X run(const X& x) {
    X y = bn.forward_relu(blocks(conv1(x)));
    return fc(adaptive_avg_pool2d(y, 1, 1).flatten(1));
  }

  nn::Conv2d conv1;
  nn::Sequential blocks;
  nn::BatchNorm2d bn;
  nn::Linear fc;
};

}  // namespace

std::shared_ptr<nn::Module> wide_resnet(const ModelSpec& spec, std::shared_ptr<Width> width) {
  return std::make_shared<WideResNet>(spec, width);
}

}  // namespace mn::models
