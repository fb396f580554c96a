// CPU batch norm over (N, C, H*W): one channel per OpenMP iteration, statistics accumulated in
// double so float32 batches of 10^5 values per channel keep their precision. With RELU the output
// is max(0, y) in the same pass, and the backward masks dy by that output as it reads it.
#include <algorithm>
#include <cmath>

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

template <bool RELU, class T>
void forward(const Tensor& xt, const Tensor& gamma_t, const Tensor& beta_t, const Tensor& rm_t,
             const Tensor& rv_t, bool training, double momentum, double eps, const Tensor& yt,
             const Tensor& mean_t, const Tensor& invstd_t) {
  const Layout l(xt);
  const T *x = xt.data<T>(), *gamma = gamma_t.data<T>(), *beta = beta_t.data<T>();
  T *rm = rm_t.data<T>(), *rv = rv_t.data<T>(), *y = yt.data<T>();
  T *save_mean = mean_t.data<T>(), *save_invstd = invstd_t.data<T>();
  const double M = static_cast<double>(l.count());
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < l.C; ++c) {
    double mean, invstd;
    if (training) {
      double var;
      channel_moments(l, x, c, mean, var);
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
    channel_affine<RELU>(l, x, y, c, static_cast<T>(scale), static_cast<T>(beta[c] - mean * scale));
  }
}

// The gradient reaching the batch norm at element i of a row: dy, zeroed with RELU where the
// forward's output is not positive.
template <bool RELU, class T>
T grad_at(const T* g, const T* out, int64_t i) {
  return RELU && !(out[i] > 0) ? T(0) : g[i];
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
  const Layout l(xt);
  const T *dy = dyt.data<T>(), *x = xt.data<T>(), *gamma = gamma_t.data<T>();
  const T* y = RELU ? yt.data<T>() : nullptr;
  const T *save_mean = mean_t.data<T>(), *save_invstd = invstd_t.data<T>();
  T *dx = dxt.data<T>(), *dgamma = dgamma_t.data<T>(), *dbeta = dbeta_t.data<T>();
  const double M = static_cast<double>(l.count());
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < l.C; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    double sum_dy, sum_dy_xmu;
    channel_grad_sums<RELU>(l, dy, x, y, c, mean, sum_dy, sum_dy_xmu);
    const double sum_dy_xhat = sum_dy_xmu * invstd;
    dbeta[c] = static_cast<T>(sum_dy);
    dgamma[c] = static_cast<T>(sum_dy_xhat);
    const double k = gamma[c] * invstd;
    const double b = training ? -k * invstd * sum_dy_xhat / M : 0.0;
    const double d = training ? -k * sum_dy / M : 0.0;
    channel_grad_apply<RELU>(l, dy, x, y, c, static_cast<T>(mean), static_cast<T>(k),
                             static_cast<T>(b), static_cast<T>(d), dx);
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
    const Layout l(x);
    T *mean = mean_t.data<T>(), *var = var_t.data<T>();
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < l.C; ++c) {
      double m, v;
      channel_moments(l, x.data<T>(), c, m, v);
      mean[c] = static_cast<T>(m);
      var[c] = static_cast<T>(v);
    }
  });
}

void CpuBackend::batchnorm_backward_reduce(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                           const Tensor& mean_t, const Tensor& sum_g_t,
                                           const Tensor& sum_gx_t) {
  cpu::dispatch_float(x.dtype(), "batch_norm backward", [&](auto t) {
    using T = decltype(t);
    const Layout l(x);
    const T* mean = mean_t.data<T>();
    T *sum_g = sum_g_t.data<T>(), *sum_gx = sum_gx_t.data<T>();
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < l.C; ++c) {
      double g, gx;
      if (relu_y.defined())
        channel_grad_sums<true>(l, dy.data<T>(), x.data<T>(), relu_y.data<T>(), c, mean[c], g, gx);
      else
        channel_grad_sums<false>(l, dy.data<T>(), x.data<T>(), static_cast<const T*>(nullptr), c, mean[c], g, gx);
      sum_g[c] = static_cast<T>(g);
      sum_gx[c] = static_cast<T>(gx);
    }
  });
}

void CpuBackend::batchnorm_backward_apply(const Tensor& dy, const Tensor& x, const Tensor& relu_y,
                                          const Tensor& mean_t, const Tensor& invstd_t,
                                          const Tensor& gamma_t, const Tensor& sum_g_t,
                                          const Tensor& sum_gx_t, double count, const Tensor& dx) {
  cpu::dispatch_float(x.dtype(), "batch_norm backward", [&](auto t) {
    using T = decltype(t);
    const Layout l(x);
    const T *mean = mean_t.data<T>(), *invstd = invstd_t.data<T>(), *gamma = gamma_t.data<T>();
    const T *sum_g = sum_g_t.data<T>(), *sum_gx = sum_gx_t.data<T>();
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < l.C; ++c) {
      const double k = double(gamma[c]) * invstd[c];
      const T a = static_cast<T>(k), b = static_cast<T>(-k * invstd[c] * invstd[c] * sum_gx[c] / count),
              d = static_cast<T>(-k * sum_g[c] / count);
      if (relu_y.defined())
        channel_grad_apply<true>(l, dy.data<T>(), x.data<T>(), relu_y.data<T>(), c, mean[c], a, b, d, dx.data<T>());
      else
        channel_grad_apply<false>(l, dy.data<T>(), x.data<T>(), static_cast<const T*>(nullptr), c, mean[c], a, b, d,
                                  dx.data<T>());
    }
  });
}

}  // namespace mn
