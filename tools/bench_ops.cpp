// `mn bench ops`: GFLOP/s of sgemm and of conv2d forward, backward-data and backward-weight on the
// conv layers of a WRN-16-2 at 28x28 (batch 128, float32, CPU), then milliseconds of training-mode
// batch norm. tools/bench_ops_torch.py prints the same table through PyTorch for comparison on the
// same machine.
//
//   ./mn bench ops [--threads 2] [--batch 128] [--seconds 0.5] [--width 1.0]
//
// --width scales every layer's channels as a MutualNet sub-network does (divisor 4), to time the
// narrow convolutions, where per-element work (im2col, col2im) weighs most against the GEMM.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

#include "mutualnet/width.h"
#include "tensor/batchnorm.h"
#include "tensor/ops.h"
#include "tools/commands.h"

namespace mn::cli {
namespace {

struct ConvShape {
  const char* name;
  int64_t C, O, k, stride, H;  // padding k / 2
};
// The distinct conv shapes of WRN-16-2 on 28x28 with 1 input channel; keep in step with
// tools/bench_ops_torch.py.
const ConvShape kWrn16_2[] = {
    {"conv1 1->16 3x3", 1, 16, 3, 1, 28},
    {"s1 16->32 3x3", 16, 32, 3, 1, 28},
    {"s1 32->32 3x3", 32, 32, 3, 1, 28},
    {"s1 short 16->32 1x1", 16, 32, 1, 1, 28},
    {"s2 32->64 3x3 /2", 32, 64, 3, 2, 28},
    {"s2 64->64 3x3", 64, 64, 3, 1, 14},
    {"s2 short 32->64 1x1 /2", 32, 64, 1, 2, 28},
    {"s3 64->128 3x3 /2", 64, 128, 3, 2, 14},
    {"s3 128->128 3x3", 128, 128, 3, 1, 7},
    {"s3 short 64->128 1x1 /2", 64, 128, 1, 2, 14},
};
const int64_t kGemmSizes[] = {256, 512, 1024};

// Seconds per call: one warm-up, then the fastest of 5 rounds of `seconds / 5` each (the machine
// may be shared; the best round is the least disturbed one).
double time_per_call(const std::function<void()>& f, double seconds) {
  using clock = std::chrono::steady_clock;
  f();
  double best = 1e30;
  for (int round = 0; round < 5; ++round) {
    int calls = 0;
    const auto start = clock::now();
    double elapsed = 0;
    do {
      f();
      ++calls;
      elapsed = std::chrono::duration<double>(clock::now() - start).count();
    } while (elapsed < seconds / 5);
    best = std::min(best, elapsed / calls);
  }
  return best;
}

Tensor random(const Shape& s, Generator& g) {
  Tensor t = Tensor::empty(s);
  ops::normal_(t, 0, 1, g);
  return t;
}

}  // namespace

const Spec kBenchOpsSpec{
    "bench ops",
    "GFLOP/s of sgemm and conv2d on WRN-16-2's conv layers, then ms of batch norm (CPU).",
    {option("--threads", "N", "OpenMP and OpenBLAS threads", "2"),
     option("--batch", "N", "the batch size", "128"),
     option("--seconds", "S", "time per measurement", "0.5"),
     option("--width", "W", "scales every layer's channels as a sub-network does, in (0, 1]", "1.0")}};

int bench_ops(int argc, char** argv) {
  const Args args(kBenchOpsSpec, argc, argv);
  const int threads = static_cast<int>(args.integer("--threads"));
  const int64_t batch = args.integer("--batch");
  const double seconds = args.number("--seconds"), width = args.number("--width");
  MN_CHECK(threads >= 1 && batch >= 1 && seconds > 0 && width > 0 && width <= 1,
           "bench ops: --threads, --batch and --seconds must be positive, --width in (0, 1]");
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);

  std::printf("mn, %d threads, batch %lld, width %g, float32, %s\n", threads,
              static_cast<long long>(batch), width, openblas_get_config());
  std::printf("%-28s%10s%10s%10s%10s   (GFLOP/s)\n", "op", "fwd", "bwd-data", "bwd-wt", "ms total");
  Generator gen(0);
  for (int64_t n : kGemmSizes) {
    Tensor a = random({n, n}, gen), b = random({n, n}, gen), c = Tensor::empty({n, n});
    const double t = time_per_call([&] { ops::matmul_into(c, a, b); }, seconds);
    char name[64];
    std::snprintf(name, sizeof name, "sgemm %lldx%lldx%lld", static_cast<long long>(n),
                  static_cast<long long>(n), static_cast<long long>(n));
    std::printf("%-28s%10.1f%10s%10s%10.2f\n", name, 2.0 * n * n * n / t / 1e9, "", "", t * 1e3);
  }
  double total = 0;
  for (ConvShape s : kWrn16_2) {
    if (s.C > 1) s.C = make_divisible(s.C * width, 4);
    s.O = make_divisible(s.O * width, 4);
    Conv2dArgs args;
    args.stride_h = args.stride_w = static_cast<int>(s.stride);
    args.pad_h = args.pad_w = static_cast<int>(s.k / 2);
    Tensor x = random({batch, s.C, s.H, s.H}, gen), w = random({s.O, s.C, s.k, s.k}, gen);
    Tensor dy = random(ops::conv2d_output_shape(x.shape(), w.shape(), args), gen);
    Tensor dw = Tensor::empty(w.shape());
    const double flops = 2.0 * dy.numel() * s.C * s.k * s.k;
    const double fwd = time_per_call([&] { ops::conv2d_forward(x, w, args); }, seconds);
    const double bwd_data =
        time_per_call([&] { ops::conv2d_backward_data(dy, w, x.shape(), args); }, seconds);
    const double bwd_weight =
        time_per_call([&] { ops::conv2d_backward_weight(x, dy, dw, args, false); }, seconds);
    const double t = fwd + bwd_data + bwd_weight;
    total += t;
    std::printf("%-28s%10.1f%10.1f%10.1f%10.2f\n", s.name, flops / fwd / 1e9,
                flops / bwd_data / 1e9, flops / bwd_weight / 1e9, t * 1e3);
  }
  std::printf("%-28s%30s%10.2f\n", "all convs (fwd+bwd)", "", total * 1e3);

  // Batch norm in training mode (batch statistics) on the WRN blocks' input shapes.
  std::printf("%-28s%10s%10s%10s%10s   (ms)\n", "batch_norm (train)", "fwd", "bwd", "", "");
  for (auto [C, H] : {std::pair<int64_t, int64_t>{32, 28}, {64, 14}, {128, 7}}) {
    C = make_divisible(C * width, 4);
    Tensor x = random({batch, C, H, H}, gen), dy = random({batch, C, H, H}, gen);
    Tensor gamma = Tensor::full({C}, 1.0), beta = Tensor::zeros({C});
    Tensor rm = Tensor::zeros({C}), rv = Tensor::full({C}, 1.0);
    ops::BatchNormOutput out;
    const double fwd = time_per_call(
        [&] { out = ops::batchnorm_forward(x, gamma, beta, rm, rv, true, 0.1, 1e-5); }, seconds);
    const double bwd = time_per_call(
        [&] { ops::batchnorm_backward(dy, x, gamma, out.save_mean, out.save_invstd, true); }, seconds);
    char name[64];
    std::snprintf(name, sizeof name, "bn %lldx%lldx%lld", static_cast<long long>(C),
                  static_cast<long long>(H), static_cast<long long>(H));
    std::printf("%-28s%10.3f%10.3f\n", name, fwd * 1e3, bwd * 1e3);
  }
  return 0;
}

}  // namespace mn::cli
