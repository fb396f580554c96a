// CPU losses from logits, one row per sample; per-row terms are summed in double.
//   cross-entropy with smoothing eps over K classes: target t = (1 - eps) onehot(y) + eps / K,
//     loss = mean_i -sum_k t_k log p_ik,  dlogits = dloss * (p - t) / N
//   KL(T || S), batchmean: loss = sum_i sum_k t_ik (log t_ik - log s_ik) / N,
//     dstudent = dloss * (s - t) / N   (terms with t_ik = 0 contribute 0, as in PyTorch)
#include "tensor/cpu_backend.h"
#include "tensor/cpu_loops.h"
#include "tensor/softmax_rows.h"

namespace mn {

void CpuBackend::cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                       double smoothing, const Tensor& loss, const Tensor& probs) {
  const int64_t N = logits.size(0), K = logits.size(1);
  const int64_t* y = labels.data<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    MN_CHECK(y[i] >= 0 && y[i] < K, "cross_entropy: label ", y[i], " of sample ", i,
             " is out of range for ", K, " classes");
  cpu::dispatch_float(logits.dtype(), "cross_entropy", [&](auto t) {
    using T = decltype(t);
    const T* x = logits.data<T>();
    T* p = probs.data<T>();
    double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total) if (N * K >= cpu::kParallelGrain)
    for (int64_t i = 0; i < N; ++i) {
      const T* row = x + i * K;
      const double log_z = cpu::softmax_row(row, p + i * K, K, false);
      double sum_logp = 0;
      for (int64_t k = 0; k < K; ++k) sum_logp += double(row[k]) - log_z;
      total += -(1 - smoothing) * (double(row[y[i]]) - log_z) - smoothing / K * sum_logp;
    }
    loss.data<T>()[0] = static_cast<T>(total / N);
  });
}

void CpuBackend::cross_entropy_backward(const Tensor& probs, const Tensor& labels,
                                        double smoothing, const Tensor& dloss,
                                        const Tensor& dlogits) {
  const int64_t N = probs.size(0), K = probs.size(1);
  const int64_t* y = labels.data<int64_t>();
  cpu::dispatch_float(probs.dtype(), "cross_entropy backward", [&](auto t) {
    using T = decltype(t);
    const T* p = probs.data<T>();
    T* d = dlogits.data<T>();
    const double scale = double(dloss.data<T>()[0]) / N, off = smoothing / K;
#pragma omp parallel for schedule(static) if (N * K >= cpu::kParallelGrain)
    for (int64_t i = 0; i < N; ++i) {
      for (int64_t k = 0; k < K; ++k)
        d[i * K + k] = static_cast<T>(scale * (p[i * K + k] - off - (k == y[i] ? 1 - smoothing : 0)));
    }
  });
}

void CpuBackend::kl_div_forward(const Tensor& student, const Tensor& teacher, const Tensor& loss,
                                const Tensor& student_probs, const Tensor& teacher_probs) {
  const int64_t N = student.size(0), K = student.size(1);
  cpu::dispatch_float(student.dtype(), "kl_div", [&](auto t) {
    using T = decltype(t);
    const T *s = student.data<T>(), *tl = teacher.data<T>();
    T *sp = student_probs.data<T>(), *tp = teacher_probs.data<T>();
    double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total) if (N * K >= cpu::kParallelGrain)
    for (int64_t i = 0; i < N; ++i) {
      const double log_zs = cpu::softmax_row(s + i * K, sp + i * K, K, false);
      const double log_zt = cpu::softmax_row(tl + i * K, tp + i * K, K, false);
      for (int64_t k = 0; k < K; ++k) {
        const double log_t = double(tl[i * K + k]) - log_zt, log_s = double(s[i * K + k]) - log_zs;
        const double p_t = std::exp(log_t);
        if (p_t > 0) total += p_t * (log_t - log_s);
      }
    }
    loss.data<T>()[0] = static_cast<T>(total / N);
  });
}

void CpuBackend::kl_div_backward(const Tensor& student_probs, const Tensor& teacher_probs,
                                 const Tensor& dloss, const Tensor& dstudent) {
  const int64_t N = student_probs.size(0), K = student_probs.size(1);
  cpu::dispatch_float(student_probs.dtype(), "kl_div backward", [&](auto t) {
    using T = decltype(t);
    const T *sp = student_probs.data<T>(), *tp = teacher_probs.data<T>();
    T* d = dstudent.data<T>();
    const double scale = double(dloss.data<T>()[0]) / N;
#pragma omp parallel for schedule(static) if (N * K >= cpu::kParallelGrain)
    for (int64_t j = 0; j < N * K; ++j) d[j] = static_cast<T>(scale * (double(sp[j]) - tp[j]));
  });
}

}  // namespace mn
