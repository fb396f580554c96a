// Parameter initialisation, in place, as the public MutualNet models do it.
//   conv weights:   kaiming_normal_(w, Fan::out)   (= normal(0, sqrt(2 / (k*k*out_channels))))
//   BN:             constant_(weight, 1), constant_(bias, 0)
//   linear:         normal_(w, 0, 0.01) (MobileNets, ResNet) or PyTorch's default
//                   uniform(+-1/sqrt(fan_in)) (WideResNet), bias 0
#pragma once
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace mn::nn::init {

enum class Fan { in, out };
// PyTorch's fans: fan_in = size(1) * receptive field, fan_out = size(0) * receptive field.
int64_t fan(const Tensor& w, Fan mode);

// normal(0, gain / sqrt(fan)) with the ReLU gain sqrt(2).
void kaiming_normal_(const Tensor& w, Fan mode, Generator& gen);
// PyTorch's default for Linear and Conv2d weights: uniform(+-1/sqrt(fan_in)).
void default_uniform_(const Tensor& w, Generator& gen);
void normal_(const Tensor& t, double mean, double std, Generator& gen);
void uniform_(const Tensor& t, double lo, double hi, Generator& gen);
void constant_(const Tensor& t, double value);

}  // namespace mn::nn::init
