// CUDA classification losses on contiguous (N, K) float32 logits, one row per warp (or block):
// cross-entropy with label smoothing (target = (1 - eps) one-hot + eps / K) and the distillation
// loss KL(softmax(teacher) || softmax(student)) with 'batchmean'. Each row writes its own loss and
// one block adds them in a fixed order, so the loss is deterministic. Backward kernels read the
// upstream gradient from device memory: no host synchronisation anywhere in a training step.
#include "cuda/rows.cuh"

namespace mn {

namespace {

using cuda::MaxOp;
using cuda::SumOp;

// Log-sum-exp of a row and, when `sum_x` is given, the row's plain sum.
template <int THREADS>
__device__ float row_logsumexp(const float* xr, int64_t k, int lane, float* sum_x) {
  float mx = -INFINITY, sx = 0.f;
  for (int64_t j = lane; j < k; j += THREADS) {
    mx = fmaxf(mx, xr[j]);
    sx += xr[j];
  }
  mx = cuda::row_allreduce<THREADS>(mx, MaxOp{});
  if (sum_x) *sum_x = cuda::row_allreduce<THREADS>(sx, SumOp{});
  float s = 0.f;
  for (int64_t j = lane; j < k; j += THREADS) s += expf(xr[j] - mx);
  return mx + logf(cuda::row_allreduce<THREADS>(s, SumOp{}));
}

// Row loss = -(1 - eps) * logp[label] - eps / K * sum_k logp[k]; an out-of-range label makes it NaN.
template <int THREADS>
__global__ void cross_entropy_kernel(const float* __restrict__ logits, const int64_t* __restrict__ labels,
                                     int64_t n, int64_t k, float smoothing, float* __restrict__ probs,
                                     float* __restrict__ row_loss) {
  const int64_t row = cuda::row_index<THREADS>();
  if (row >= n) return;
  const int lane = cuda::row_lane<THREADS>();
  const float* xr = logits + row * k;
  float sum_x = 0.f;
  const float lse = row_logsumexp<THREADS>(xr, k, lane, &sum_x);
  for (int64_t j = lane; j < k; j += THREADS) probs[row * k + j] = expf(xr[j] - lse);
  if (lane == 0) {
    const int64_t label = labels[row];
    const float sum_logp = sum_x - static_cast<float>(k) * lse;
    row_loss[row] = (label < 0 || label >= k)
                        ? NAN
                        : -(1.f - smoothing) * (xr[label] - lse) - smoothing / static_cast<float>(k) * sum_logp;
  }
}

// In double, as the CPU: when the student is close to the teacher, KL is a small difference of
// large terms (log p ~ -7 over 1000 classes), and float log-sum-exps would leave 1e-3 of its value.
template <int THREADS>
__device__ double row_logsumexp_f64(const float* xr, int64_t k, int lane) {
  float mx = -INFINITY;
  for (int64_t j = lane; j < k; j += THREADS) mx = fmaxf(mx, xr[j]);
  mx = cuda::row_allreduce<THREADS>(mx, MaxOp{});
  double s = 0;
  for (int64_t j = lane; j < k; j += THREADS) s += exp(static_cast<double>(xr[j]) - mx);
  return mx + log(cuda::row_allreduce<THREADS>(s, SumOp{}));
}

template <int THREADS>
__global__ void kl_div_kernel(const float* __restrict__ student, const float* __restrict__ teacher,
                              int64_t n, int64_t k, float* __restrict__ student_probs,
                              float* __restrict__ teacher_probs, float* __restrict__ row_loss) {
  const int64_t row = cuda::row_index<THREADS>();
  if (row >= n) return;
  const int lane = cuda::row_lane<THREADS>();
  const float* sr = student + row * k;
  const float* tr = teacher + row * k;
  const double lse_s = row_logsumexp_f64<THREADS>(sr, k, lane);
  const double lse_t = row_logsumexp_f64<THREADS>(tr, k, lane);
  double kl = 0;
  for (int64_t j = lane; j < k; j += THREADS) {
    const double log_ps = sr[j] - lse_s, log_pt = tr[j] - lse_t, pt = exp(log_pt);
    student_probs[row * k + j] = static_cast<float>(exp(log_ps));
    teacher_probs[row * k + j] = static_cast<float>(pt);
    if (pt > 0) kl += pt * (log_pt - log_ps);  // pt underflowing to 0 contributes 0, as PyTorch's xlogy
  }
  kl = cuda::row_allreduce<THREADS>(kl, SumOp{});
  if (lane == 0) row_loss[row] = static_cast<float>(kl);
}

// loss[0] = sum(row_loss) / n, one block, fixed order.
__global__ void mean_kernel(const float* __restrict__ row_loss, int64_t n, float* __restrict__ loss) {
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += row_loss[i];
  s = cuda::row_allreduce<cuda::kRowBlock>(s, SumOp{});
  if (threadIdx.x == 0) *loss = s / static_cast<float>(n);
}

// dlogits = dloss * (probs - target) / N.
__global__ void cross_entropy_backward_kernel(const float* __restrict__ probs,
                                              const int64_t* __restrict__ labels, int64_t n,
                                              int64_t k, float smoothing,
                                              const float* __restrict__ dloss, float* __restrict__ dlogits) {
  const float scale = *dloss / static_cast<float>(n), off = smoothing / static_cast<float>(k);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n * k;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / k, j = i - row * k;
    const float target = (labels[row] == j ? 1.f - smoothing : 0.f) + off;
    dlogits[i] = scale * (probs[i] - target);
  }
}

// dstudent = dloss * (student_probs - teacher_probs) / N.
__global__ void kl_div_backward_kernel(const float* __restrict__ ps, const float* __restrict__ pt,
                                       int64_t n, int64_t total, const float* __restrict__ dloss,
                                       float* __restrict__ dstudent) {
  const float scale = *dloss / static_cast<float>(n);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dstudent[i] = scale * (ps[i] - pt[i]);
}

const float* cf(const Tensor& t) { return static_cast<const float*>(t.data_ptr()); }
float* mf(const Tensor& t) { return static_cast<float*>(t.data_ptr()); }

void finish_mean(const cuda::Buffer& row_loss, int64_t n, const Tensor& loss) {
  mean_kernel<<<1, cuda::kRowBlock, 0, cuda::stream()>>>(row_loss.as<float>(), n, mf(loss));
  MN_CUDA_LAUNCH_CHECK();
}

}  // namespace

void CudaBackend::cross_entropy_forward(const Tensor& logits, const Tensor& labels, double smoothing,
                                        const Tensor& loss, const Tensor& probs) {
  cuda::require_f32("cross_entropy", {&logits, &loss, &probs});
  MN_CHECK(labels.dtype() == DType::i64, "cross_entropy: labels must be int64, got ", dtype_name(labels.dtype()));
  const int64_t n = logits.size(0), k = logits.size(1);
  MN_CHECK(n > 0, "cross_entropy: empty batch");
  cuda::Buffer row_loss(n * sizeof(float));
  const float* x = cf(logits);
  const int64_t* y = static_cast<const int64_t*>(labels.data_ptr());
  const float eps = static_cast<float>(smoothing);
  float* p = mf(probs);
  float* rl = row_loss.as<float>();
  cuda::launch_rows(
      n, k,
      [&](unsigned g, int t) { cross_entropy_kernel<32><<<g, t, 0, cuda::stream()>>>(x, y, n, k, eps, p, rl); },
      [&](unsigned g, int t) {
        cross_entropy_kernel<cuda::kRowBlock><<<g, t, 0, cuda::stream()>>>(x, y, n, k, eps, p, rl);
      });
  finish_mean(row_loss, n, loss);
}

void CudaBackend::cross_entropy_backward(const Tensor& probs, const Tensor& labels, double smoothing,
                                         const Tensor& dloss, const Tensor& dlogits) {
  cuda::require_f32("cross_entropy backward", {&probs, &dloss, &dlogits});
  const int64_t n = probs.size(0), k = probs.size(1);
  if (n * k == 0) return;
  cross_entropy_backward_kernel<<<cuda::grid_for(n * k, 256), 256, 0, cuda::stream()>>>(
      cf(probs), static_cast<const int64_t*>(labels.data_ptr()), n, k, static_cast<float>(smoothing),
      cf(dloss), mf(dlogits));
  MN_CUDA_LAUNCH_CHECK();
}

void CudaBackend::kl_div_forward(const Tensor& student, const Tensor& teacher, const Tensor& loss,
                                 const Tensor& student_probs, const Tensor& teacher_probs) {
  cuda::require_f32("kl_div", {&student, &teacher, &loss, &student_probs, &teacher_probs});
  const int64_t n = student.size(0), k = student.size(1);
  MN_CHECK(n > 0, "kl_div: empty batch");
  cuda::Buffer row_loss(n * sizeof(float));
  const float *s = cf(student), *t = cf(teacher);
  float *ps = mf(student_probs), *pt = mf(teacher_probs), *rl = row_loss.as<float>();
  cuda::launch_rows(
      n, k,
      [&](unsigned g, int th) { kl_div_kernel<32><<<g, th, 0, cuda::stream()>>>(s, t, n, k, ps, pt, rl); },
      [&](unsigned g, int th) {
        kl_div_kernel<cuda::kRowBlock><<<g, th, 0, cuda::stream()>>>(s, t, n, k, ps, pt, rl);
      });
  finish_mean(row_loss, n, loss);
}

void CudaBackend::kl_div_backward(const Tensor& student_probs, const Tensor& teacher_probs,
                                  const Tensor& dloss, const Tensor& dstudent) {
  cuda::require_f32("kl_div backward", {&student_probs, &teacher_probs, &dloss, &dstudent});
  const int64_t n = student_probs.size(0), total = student_probs.numel();
  if (total == 0) return;
  kl_div_backward_kernel<<<cuda::grid_for(total, 256), 256, 0, cuda::stream()>>>(
      cf(student_probs), cf(teacher_probs), n, total, cf(dloss), mf(dstudent));
  MN_CUDA_LAUNCH_CHECK();
}

}  // namespace mn
