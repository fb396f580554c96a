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
  // The gradient reaching the batch norm at element i of a row.
  auto grad = [](const T* g, const T* out, int64_t i) { return RELU && !(out[i] > 0) ? T(0) : g[i]; };
  const T *save_mean = mean_t.data<T>(), *save_invstd = invstd_t.data<T>();
  T *dx = dxt.data<T>(), *dgamma = dgamma_t.data<T>(), *dbeta = dbeta_t.data<T>();
  const double M = static_cast<double>(l.count());
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < l.C; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    const T tmean = static_cast<T>(mean);
    double sum_dy = 0, sum_dy_xmu = 0;
    for (int64_t n = 0; n < l.N; ++n) {  // rows in T, the channel in double, as channel_moments
      const T* g = dy + (n * l.C + c) * l.S;
      const T* in = x + (n * l.C + c) * l.S;
      const T* out = RELU ? y + (n * l.C + c) * l.S : nullptr;
      T row_dy = 0, row_dy_xmu = 0;
#pragma omp simd reduction(+ : row_dy, row_dy_xmu)
      for (int64_t s = 0; s < l.S; ++s) {
        const T gs = grad(g, out, s);
        row_dy += gs;
        row_dy_xmu += gs * (in[s] - tmean);
      }
      sum_dy += row_dy;
      sum_dy_xmu += row_dy_xmu;
    }
    sum_dy_xmu += sum_dy * (static_cast<double>(tmean) - mean);  // the mean's rounding to T, undone
    const double sum_dy_xhat = sum_dy_xmu * invstd;
    dbeta[c] = static_cast<T>(sum_dy);
    dgamma[c] = static_cast<T>(sum_dy_xhat);
    const double k = gamma[c] * invstd;
    // dx = a * dy + b * (x - mean) + d, with per-channel constants
    const double a = k, b = training ? -k * invstd * sum_dy_xhat / M : 0.0;
    const double d = training ? -k * sum_dy / M : 0.0;
    const T ta = static_cast<T>(a), tb = static_cast<T>(b), td = static_cast<T>(d);
    for (int64_t n = 0; n < l.N; ++n) {
      const T* g = dy + (n * l.C + c) * l.S;
      const T* in = x + (n * l.C + c) * l.S;
      const T* out = RELU ? y + (n * l.C + c) * l.S : nullptr;
      T* d = dx + (n * l.C + c) * l.S;
      for (int64_t s = 0; s < l.S; ++s) d[s] = ta * grad(g, out, s) + tb * (in[s] - tmean) + td;
    }
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

}  // namespace mn
