// Every raw (non-differentiable) tensor op in one include.
#pragma once
#include "tensor/batchnorm.h"
#include "tensor/conv2d.h"
#include "tensor/elementwise.h"
#include "tensor/loss.h"
#include "tensor/matmul.h"
#include "tensor/pad2d.h"
#include "tensor/pool2d.h"
#include "tensor/random.h"
#include "tensor/reduce.h"
#include "tensor/resize.h"
#include "tensor/sgd.h"
#include "tensor/softmax.h"
