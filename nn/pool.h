// Pooling layers over NCHW: max, average (counting padding, as PyTorch) and adaptive average.
#pragma once
#include "nn/module.h"
#include "tensor/backend.h"

namespace mn::nn {

class MaxPool2d : public Module {
 public:
  MaxPool2d(int kernel, int stride, int padding = 0);
  Variable forward(const Variable& x) override;
  Probe trace(const Probe& x) override;

 private:
  Pool2dArgs args_;
};

class AvgPool2d : public Module {
 public:
  AvgPool2d(int kernel, int stride, int padding = 0);
  Variable forward(const Variable& x) override;
  Probe trace(const Probe& x) override;  // counts C*H*W of the input, as the public profiler

 private:
  Pool2dArgs args_;
};

class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d(int64_t out_h, int64_t out_w) : out_h_(out_h), out_w_(out_w) {}
  Variable forward(const Variable& x) override;
  Probe trace(const Probe& x) override { return adaptive_avg_pool2d(x, out_h_, out_w_); }

 private:
  int64_t out_h_, out_w_;
};

}  // namespace mn::nn
