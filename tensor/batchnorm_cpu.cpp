// CPU batch norm. NCHW, (N, C, H*W): one channel per OpenMP iteration. Channels-last, N*H*W rows
// of C: blocks of rows per OpenMP iteration, every channel at once. Statistics are accumulated in
// double so float32 batches of 10^5 values per channel keep their precision. With RELU the output
// is max(0, y) in the same pass, and the backward masks dy by that output as it reads it.
#include <algorithm>
#include <array>
#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "tensor/cpu_backend.h"
#include "tensor/cpu_loops.h"

namespace mn {
namespace {

struct Layout {
  int64_t N, C, S;  // S = H * W: values per (image, channel)
  explicit Layout(const Tensor& x) : N(x.size(0)), C(x.size(1)), S(x.numel() / (x.size(0) * x.size(1))) {}
  int64_t count() const { return N * S; }  // values per channel
};

// Mean and biased variance of one channel in a single pass: sums of (x - pivot) and its square,
// the pivot being one of the channel's values, so that a mean far from zero cancels before
// squaring (the textbook E[x^2] - E[x]^2 would lose it). One read of x instead of two. Each
// image's row (at most a few thousand values) is summed in T at full vector width and the rows in
// double, which keeps a 10^5-value channel as precise as summing every value in double.
template <class T>
void channel_moments(const Layout& l, const T* x, int64_t c, double& mean, double& var) {
  const T pivot = x[c * l.S];
  double sum = 0, sq = 0;
  for (int64_t n = 0; n < l.N; ++n) {
    const T* row = x + (n * l.C + c) * l.S;
    T row_sum = 0, row_sq = 0;
#pragma omp simd reduction(+ : row_sum, row_sq)
    for (int64_t s = 0; s < l.S; ++s) {
      const T d = row[s] - pivot;
      row_sum += d;
      row_sq += d * d;
    }
    sum += row_sum;
    sq += row_sq;
  }
  const double M = static_cast<double>(l.count()), shift = sum / M;
  mean = pivot + shift;
  var = std::max(0.0, sq / M - shift * shift);
}

// y = x * scale + shift over one channel (and max(0, y) with RELU).
template <bool RELU, class T>
void channel_affine(const Layout& l, const T* x, T* y, int64_t c, T scale, T shift) {
  for (int64_t n = 0; n < l.N; ++n) {
    const T* in = x + (n * l.C + c) * l.S;
    T* out = y + (n * l.C + c) * l.S;
    for (int64_t s = 0; s < l.S; ++s) {
      const T v = in[s] * scale + shift;
      out[s] = RELU ? std::max(v, T(0)) : v;
    }
  }
}

// The gradient reaching the batch norm at element i of a row: dy, zeroed with RELU where the
// forward's output is not positive.
template <bool RELU, class T>
T grad_at(const T* g, const T* out, int64_t i) {
  return RELU && !(out[i] > 0) ? T(0) : g[i];
}

// Channels-last: rows of C values, one per pixel.
struct Rows {
  int64_t R, C;
  explicit Rows(const Tensor& x) : R(x.numel() / std::max<int64_t>(x.size(1), 1)), C(x.size(1)) {}
};

// Rows a block sums in T before its sums join the others in double: as precise as the NCHW path's
// per-image rows of H*W values.
constexpr int64_t kBlockRows = 256;

// Two per-channel sums over every row: add(r, s1, s2) adds row r's terms to the block's T
// accumulators s1[C], s2[C]. The blocks are fixed and added in order, so the bits do not depend on
// the thread count.
template <class T, class F>
void channel_sums(const Rows& l, F&& add, std::vector<double>& sum1, std::vector<double>& sum2) {
  const int64_t blocks = (l.R + kBlockRows - 1) / kBlockRows;
  std::vector<double> part(blocks * 2 * l.C);
#pragma omp parallel if (l.R * l.C >= cpu::kParallelGrain)
  {
    std::vector<T> s1(l.C), s2(l.C);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      std::fill(s1.begin(), s1.end(), T(0));
      std::fill(s2.begin(), s2.end(), T(0));
      for (int64_t r = b * kBlockRows; r < std::min(l.R, (b + 1) * kBlockRows); ++r) add(r, s1.data(), s2.data());
      std::copy(s1.begin(), s1.end(), part.begin() + b * 2 * l.C);
      std::copy(s2.begin(), s2.end(), part.begin() + b * 2 * l.C + l.C);
    }
  }
  sum1.assign(l.C, 0.0);
  sum2.assign(l.C, 0.0);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t c = 0; c < l.C; ++c) {
      sum1[c] += part[b * 2 * l.C + c];
      sum2[c] += part[b * 2 * l.C + l.C + c];
    }
}

// Every channel's mean and biased variance, pivoted on the first row (as channel_moments).
template <class T>
void rows_moments(const Rows& l, const T* x, std::vector<double>& mean, std::vector<double>& var) {
  std::vector<double> sum, sq;
  channel_sums<T>(
      l,
      [&](int64_t r, T* s, T* q) {
        const T* row = x + r * l.C;
#pragma omp simd
        for (int64_t c = 0; c < l.C; ++c) {
          const T d = row[c] - x[c];
          s[c] += d;
          q[c] += d * d;
        }
      },
      sum, sq);
  const double M = static_cast<double>(l.R);
  mean.resize(l.C);
  var.resize(l.C);
  for (int64_t c = 0; c < l.C; ++c) {
    const double shift = sum[c] / M;
    mean[c] = x[c] + shift;
    var[c] = std::max(0.0, sq[c] / M - shift * shift);
  }
}

// y = x * scale[c] + shift[c] (and max(0, y) with RELU).
template <bool RELU, class T>
void rows_affine(const Rows& l, const T* x, T* y, const std::vector<T>& scale, const std::vector<T>& shift) {
#pragma omp parallel for schedule(static) if (l.R * l.C >= cpu::kParallelGrain)
  for (int64_t r = 0; r < l.R; ++r) {
    const T *in = x + r * l.C, *a = scale.data(), *b = shift.data();
    T* out = y + r * l.C;
#pragma omp simd
    for (int64_t c = 0; c < l.C; ++c) {
      const T v = in[c] * a[c] + b[c];
      out[c] = RELU ? std::max(v, T(0)) : v;
    }
  }
}

// sum(g) and sum(g * (x - mean)) of every channel (as channel_grad_sums).
template <bool RELU, class T>
void rows_grad_sums(const Rows& l, const T* dy, const T* x, const T* y, const T* mean_t,
                    std::vector<double>& sum_g, std::vector<double>& sum_gx) {
  channel_sums<T>(
      l,
      [&](int64_t r, T* sg, T* sgx) {
        const T *g = dy + r * l.C, *in = x + r * l.C, *out = RELU ? y + r * l.C : nullptr;
#pragma omp simd
        for (int64_t c = 0; c < l.C; ++c) {
          const T gs = grad_at<RELU>(g, out, c);
          sg[c] += gs;
          sgx[c] += gs * (in[c] - mean_t[c]);
        }
      },
      sum_g, sum_gx);
}

// dx = a[c] * g + b[c] * (x - mean[c]) + d[c].
template <bool RELU, class T>
void rows_grad_apply(const Rows& l, const T* dy, const T* x, const T* y, const T* mean,
                     const std::vector<T>& a, const std::vector<T>& b, const std::vector<T>& d, T* dx) {
#pragma omp parallel for schedule(static) if (l.R * l.C >= cpu::kParallelGrain)
  for (int64_t r = 0; r < l.R; ++r) {
    const T *g = dy + r * l.C, *in = x + r * l.C, *out = RELU ? y + r * l.C : nullptr;
    T* o = dx + r * l.C;
#pragma omp simd
    for (int64_t c = 0; c < l.C; ++c) o[c] = a[c] * grad_at<RELU>(g, out, c) + b[c] * (in[c] - mean[c]) + d[c];
  }
}

template <bool RELU, class T>
void forward(const Tensor& xt, const Tensor& gamma_t, const Tensor& beta_t, const Tensor& rm_t,
             const Tensor& rv_t, bool training, double momentum, double eps, const Tensor& yt,
             const Tensor& mean_t, const Tensor& invstd_t) {
  const T *x = xt.data<T>(), *gamma = gamma_t.data<T>(), *beta = beta_t.data<T>();
  T *rm = rm_t.data<T>(), *rv = rv_t.data<T>(), *y = yt.data<T>();
  T *save_mean = mean_t.data<T>(), *save_invstd = invstd_t.data<T>();
  const int64_t C = xt.size(1);
  const double M = static_cast<double>(xt.numel() / C);
  // Channel c's statistics (the batch's in training, given as mean and biased var, updating the
  // running ones; else the running ones), saved, and folded with gamma and beta into
  // y = x * scale + shift.
  auto fold = [&](int64_t c, double mean, double var) -> std::pair<T, T> {
    double invstd;
    if (training) {
      invstd = 1.0 / std::sqrt(var + eps);
      // PyTorch's running statistics: exponential average with the unbiased batch variance.
      rm[c] = static_cast<T>((1 - momentum) * rm[c] + momentum * mean);
      rv[c] = static_cast<T>((1 - momentum) * rv[c] + momentum * var * M / (M - 1));
    } else {
      mean = rm[c];
      invstd = 1.0 / std::sqrt(static_cast<double>(rv[c]) + eps);
    }
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(invstd);
    const double scale = gamma[c] * invstd;
    return {static_cast<T>(scale), static_cast<T>(beta[c] - mean * scale)};
  };
  if (cpu::channels_last(xt)) {
    const Rows l(xt);
    std::vector<double> mean(C), var(C);
    if (training) rows_moments(l, x, mean, var);
    std::vector<T> scale(C), shift(C);
    for (int64_t c = 0; c < C; ++c) std::tie(scale[c], shift[c]) = fold(c, mean[c], var[c]);
    rows_affine<RELU>(l, x, y, scale, shift);
    return;
  }
  const Layout l(xt);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    double mean = 0, var = 0;
    if (training) channel_moments(l, x, c, mean, var);
    const auto [scale, shift] = fold(c, mean, var);
    channel_affine<RELU>(l, x, y, c, scale, shift);
  }
}

// sum(g) and sum(g * (x - mean)) over channel c: rows in T, the channel in double, as
// channel_moments.
template <bool RELU, class T>
void channel_grad_sums(const Layout& l, const T* dy, const T* x, const T* y, int64_t c,
                       double mean, double& sum_g, double& sum_gx) {
  const T tmean = static_cast<T>(mean);
  sum_g = sum_gx = 0;
  for (int64_t n = 0; n < l.N; ++n) {
    const int64_t row = (n * l.C + c) * l.S;
    const T *g = dy + row, *in = x + row, *out = RELU ? y + row : nullptr;
    T row_g = 0, row_gx = 0;
#pragma omp simd reduction(+ : row_g, row_gx)
    for (int64_t s = 0; s < l.S; ++s) {
      const T gs = grad_at<RELU>(g, out, s);
      row_g += gs;
      row_gx += gs * (in[s] - tmean);
    }
    sum_g += row_g;
    sum_gx += row_gx;
  }
  sum_gx += sum_g * (static_cast<double>(tmean) - mean);  // the mean's rounding to T, undone
}

// dx = a * g + b * (x - mean) + d over channel c.
template <bool RELU, class T>
void channel_grad_apply(const Layout& l, const T* dy, const T* x, const T* y, int64_t c, T mean,
                        T a, T b, T d, T* dx) {
  for (int64_t n = 0; n < l.N; ++n) {
    const int64_t row = (n * l.C + c) * l.S;
    const T *g = dy + row, *in = x + row, *out = RELU ? y + row : nullptr;
    T* o = dx + row;
    for (int64_t s = 0; s < l.S; ++s) o[s] = a * grad_at<RELU>(g, out, s) + b * (in[s] - mean) + d;
  }
}

// Training: dx = gamma * invstd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat)), the batch
// statistics being functions of x. Eval: the statistics are constants, dx = dy * gamma * invstd.
// With RELU, dy is first zeroed where the forward's output yt is not positive.
template <bool RELU, class T>
void backward(const Tensor& dyt, const Tensor& xt, const Tensor& yt, const Tensor& gamma_t,
              const Tensor& mean_t, const Tensor& invstd_t, bool training, const Tensor& dxt,
              const Tensor& dgamma_t, const Tensor& dbeta_t) {
  const T *dy = dyt.data<T>(), *x = xt.data<T>(), *gamma = gamma_t.data<T>();
  const T* y = RELU ? yt.data<T>() : nullptr;
  const T *save_mean = mean_t.data<T>(), *save_invstd = invstd_t.data<T>();
  T *dx = dxt.data<T>(), *dgamma = dgamma_t.data<T>(), *dbeta = dbeta_t.data<T>();
  const int64_t C = xt.size(1);
  const double M = static_cast<double>(xt.numel() / C);
  // Channel c's parameter gradients from its two sums, and dx's coefficients {a, b, d}.
  auto coefficients = [&](int64_t c, double sum_dy, double sum_dy_xmu) -> std::array<T, 3> {
    const double invstd = save_invstd[c], sum_dy_xhat = sum_dy_xmu * invstd;
    dbeta[c] = static_cast<T>(sum_dy);
    dgamma[c] = static_cast<T>(sum_dy_xhat);
    const double k = gamma[c] * invstd;
    const double b = training ? -k * invstd * sum_dy_xhat / M : 0.0;
    const double d = training ? -k * sum_dy / M : 0.0;
    return {static_cast<T>(k), static_cast<T>(b), static_cast<T>(d)};
  };
  if (cpu::channels_last(xt)) {
    const Rows l(xt);
    std::vector<double> sum_dy, sum_dy_xmu;
    rows_grad_sums<RELU>(l, dy, x, y, save_mean, sum_dy, sum_dy_xmu);
    std::vector<T> a(C), b(C), d(C);
    for (int64_t c = 0; c < C; ++c) {
      const auto k = coefficients(c, sum_dy[c], sum_dy_xmu[c]);
      a[c] = k[0], b[c] = k[1], d[c] = k[2];
    }
    rows_grad_apply<RELU>(l, dy, x, y, save_mean, a, b, d, dx);
    return;
  }
  const Layout l(xt);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    double sum_dy, sum_dy_xmu;
    channel_grad_sums<RELU>(l, dy, x, y, c, save_mean[c], sum_dy, sum_dy_xmu);
    const auto k = coefficients(c, sum_dy, sum_dy_xmu);
    channel_grad_apply<RELU>(l, dy, x, y, c, save_mean[c], k[0], k[1], k[2], dx);
  }
}

}  // namespace

void CpuBackend::batchnorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var,
                                   bool training, double momentum, double eps, const Tensor& y,
                                   const Tensor& save_mean, const Tensor& save_invstd) {
  cpu::dispatch_float(x.dtype(), "batch_norm", [&](auto t) {
    forward<false, decltype(t)>(x, gamma, beta, running_mean, running_var, training, momentum,
                                eps, y, save_mean, save_invstd);
  });
}

void CpuBackend::batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                    const Tensor& save_mean, const Tensor& save_invstd,
                                    bool training, const Tensor& dx, const Tensor& dgamma,
                                    const Tensor& dbeta) {
  cpu::dispatch_float(x.dtype(), "batch_norm backward", [&](auto t) {
    backward<false, decltype(t)>(dy, x, Tensor(), gamma, save_mean, save_invstd, training, dx,
                                 dgamma, dbeta);
  });
}

void CpuBackend::batchnorm_relu_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                        const Tensor& running_mean, const Tensor& running_var,
                                        bool training, double momentum, double eps,
                                        const Tensor& y, const Tensor& save_mean,
                                        const Tensor& save_invstd) {
  cpu::dispatch_float(x.dtype(), "batch_norm", [&](auto t) {
    forward<true, decltype(t)>(x, gamma, beta, running_mean, running_var, training, momentum,
                               eps, y, save_mean, save_invstd);
  });
}

void CpuBackend::batchnorm_relu_backward(const Tensor& dy, const Tensor& x, const Tensor& y,
                                         const Tensor& gamma, const Tensor& save_mean,
                                         const Tensor& save_invstd, bool training,
                                         const Tensor& dx, const Tensor& dgamma,
                                         const Tensor& dbeta) {
  cpu::dispatch_float(x.dtype(), "batch_norm backward", [&](auto t) {
    backward<true, decltype(t)>(dy, x, y, gamma, save_mean, save_invstd, training, dx, dgamma,
                                dbeta);
  });
}

void CpuBackend::batchnorm_stats(const Tensor& x, const Tensor& mean_t, const Tensor& var_t) {
  cpu::dispatch_float(x.dtype(), "batch_norm statistics", [&](auto t) {
    using T = decltype(t);
    T *mean = mean_t.data<T>(), *var = var_t.data<T>();
    if (cpu::channels_last(x)) {
      std::vector<double> m, v;
      rows_moments(Rows(x), x.data<T>(), m, v);
      std::copy(m.begin(), m.end(), mean);
      std::copy(v.begin(), v.end(), var);
      return;
    }
    const Layout l(x);
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < l.C; ++c) {
      double m, v;
      channel_moments(l, x.data<T>(), c, m, v);
      mean[c] = static_cast<T>(m);
      var[c] = static_cast<T>(v);
    }
  });
}

// The two phases of synchronized batch norm (backend.h), with or without the ReLU mask.
namespace {

template <bool RELU, class T>
void grad_sums(const Tensor& dy, const Tensor& x, const Tensor& relu_y, const T* mean, T* sum_g, T* sum_gx) {
  const T* y = RELU ? relu_y.data<T>() : nullptr;
  if (cpu::channels_last(x)) {
    std::vector<double> g, gx;
    rows_grad_sums<RELU>(Rows(x), dy.data<T>(), x.data<T>(), y, mean, g, gx);
    std::copy(g.begin(), g.end(), sum_g);
    std::copy(gx.begin(), gx.end(), sum_gx);
    return;
  }
  const Layout l(x);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < l.C; ++c) {
    double g, gx;
    channel_grad_sums<RELU>(l, dy.data<T>(), x.data<T>(), y, c, mean[c], g, gx);
    sum_g[c] = static_cast<T>(g);
    sum_gx[c] = static_cast<T>(gx);
  }
}

template <bool RELU, class T>
void grad_apply(const Tensor& dy, const Tensor& x, const Tensor& relu_y, const T* mean, const T* invstd,
                const T* gamma, const T* sum_g, const T* sum_gx, double count, const Tensor& dx) {
  const int64_t C = x.size(1);
  std::vector<T> a(C), b(C), d(C);
  for (int64_t c = 0; c < C; ++c) {
    const double k = double(gamma[c]) * invstd[c];
    a[c] = static_cast<T>(k);
    b[c] = static_cast<T>(-k * invstd[c] * invstd[c] * sum_gx[c] / count);
    d[c] = static_cast<T>(-k * sum_g[c] / count);
  }
  const T* y = RELU ? relu_y.data<T>() : nullptr;
  if (cpu::channels_last(x)) {
    rows_grad_apply<RELU>(Rows(x), dy.data<T>(), x.data<T>(), y, mean, a, b, d, dx.data<T>());
    return;
  }
  const Layout l(x);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c)
    channel_grad_apply<RELU>(l, dy.data<T>(), x.data<T>(), y, c, mean[c], a[c], b[c], d[c], dx.data<T>());
}

}  // namespace

void CpuBackend::batchnorm_backward_reduce(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                           const Tensor& mean_t, const Tensor& sum_g_t,
                                           const Tensor& sum_gx_t) {
  cpu::dispatch_float(x.dtype(), "batch_norm backward", [&](auto t) {
    using T = decltype(t);
    const T* mean = mean_t.data<T>();
    T *sum_g = sum_g_t.data<T>(), *sum_gx = sum_gx_t.data<T>();
    if (relu_y.defined())
      grad_sums<true>(dy, x, relu_y, mean, sum_g, sum_gx);
    else
      grad_sums<false>(dy, x, relu_y, mean, sum_g, sum_gx);
  });
}

void CpuBackend::batchnorm_backward_apply(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                          const Tensor& mean_t, const Tensor& invstd_t,
                                          const Tensor& gamma_t, const Tensor& sum_g_t,
                                          const Tensor& sum_gx_t, double count, const Tensor& dx) {
  cpu::dispatch_float(x.dtype(), "batch_norm backward", [&](auto t) {
    using T = decltype(t);
    const T *mean = mean_t.data<T>(), *invstd = invstd_t.data<T>(), *gamma = gamma_t.data<T>();
    const T *sum_g = sum_g_t.data<T>(), *sum_gx = sum_gx_t.data<T>();
    if (relu_y.defined())
      grad_apply<true>(dy, x, relu_y, mean, invstd, gamma, sum_g, sum_gx, count, dx);
    else
      grad_apply<false>(dy, x, relu_y, mean, invstd, gamma, sum_g, sum_gx, count, dx);
  });
}

}  // namespace mn
