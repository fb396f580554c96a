// CPU conv2d: oneDNN for dense 3x3 float32 convs when built with it, and for every float32 conv
// under channels-last (conv2d_dnnl.h); otherwise
// im2col + OpenBLAS GEMM for dense and grouped convolutions, and a direct kernel when every group
// has one input channel (depthwise convs, and the image-facing conv of a 1-channel network), where
// im2col would build a K = kh*kw matrix too thin for GEMM to pay.
//
// Threading: the batch is split evenly across OpenMP threads and each thread calls a
// single-threaded GEMM; OpenBLAS's own pool would otherwise fight the OpenMP threads for the same
// cores. Several small images go through one GEMM together (their im2col columns side by side) so
// that late, small-spatial layers (7x7 = 49 columns per image) still give GEMM wide matrices.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "tensor/conv2d_dnnl.h"
#include "tensor/cpu_backend.h"
#include "tensor/cpu_loops.h"

namespace mn {
namespace {

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// While alive, OpenBLAS runs single-threaded (restored afterwards) so that GEMMs issued from
// inside an OpenMP region do not each wake the BLAS thread pool.
class SingleThreadedBlas {
 public:
  explicit SingleThreadedBlas(bool active) : previous_(active ? openblas_get_num_threads() : 1) {
    if (previous_ != 1) openblas_set_num_threads(1);
  }
  ~SingleThreadedBlas() {
    if (previous_ != 1) openblas_set_num_threads(previous_);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int previous_;
};

// Per-thread scratch that survives between calls (OpenMP reuses its threads), so the im2col
// buffers are not page-faulted in again by every convolution.
template <class T>
T* scratch(int slot, size_t count) {
  thread_local std::vector<T> buffers[3];
  auto& b = buffers[slot];
  if (b.size() < count) b.resize(count);
  return b.data();
}

// Everything the kernels need to know about one convolution.
struct Geometry {
  int64_t N, C, H, W;    // input
  int64_t O, kh, kw;     // weight
  int64_t Ho, Wo;        // output
  int64_t groups, Cg, Og;
  int64_t K;             // Cg * kh * kw: GEMM depth, one weight row
  int64_t P;             // Ho * Wo: output pixels per image
  int64_t ldw;           // distance between weight rows (stride(0) of a possibly sliced weight)
  int sh, sw, ph, pw, dh, dw;
  bool pointwise;        // 1x1, stride 1, no padding: an image is its own column matrix

  Geometry(const Shape& x, const Tensor& w, const Shape& y, const Conv2dArgs& a)
      : N(x[0]), C(x[1]), H(x[2]), W(x[3]), O(w.size(0)), kh(w.size(2)), kw(w.size(3)),
        Ho(y[2]), Wo(y[3]), groups(a.groups), Cg(C / a.groups), Og(O / a.groups),
        K(Cg * kh * kw), P(Ho * Wo), ldw(O > 1 ? w.stride(0) : Cg * kh * kw), sh(a.stride_h),
        sw(a.stride_w), ph(a.pad_h), pw(a.pad_w), dh(a.dil_h), dw(a.dil_w),
        pointwise(kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0) {}

  // Output columns ow in [lo, hi) read input column ow * sw + iw0 inside [0, W).
  void valid_columns(int64_t iw0, int64_t& lo, int64_t& hi) const {
    lo = iw0 >= 0 ? 0 : (-iw0 + sw - 1) / sw;
    hi = iw0 > W - 1 ? 0 : (W - 1 - iw0) / sw + 1;
    lo = std::min(lo, Wo);
    hi = std::max(lo, std::min(hi, Wo));
  }
};

// Images per GEMM and the number of threads: enough images that a GEMM sees about kColumns output
// columns, and never more threads than images.
constexpr int64_t kColumns = 256;
int64_t images_per_gemm(const Geometry& g) {
  return std::clamp<int64_t>((kColumns + g.P - 1) / g.P, 1, std::max<int64_t>(g.N, 1));
}
int threads_for(int64_t images) {
  return static_cast<int>(std::clamp<int64_t>(images, 1, omp_get_max_threads()));
}

// col (Cg*kh*kw rows, P columns at row stride ld) <- patches of one group of one image x (Cg, H, W).
// A padded image is first copied into a zero-bordered buffer so that every patch row is a plain
// strided copy; rows are short (Wo values), so explicit loops beat a memcpy call per row.
template <class T>
__attribute__((optimize("no-tree-loop-distribute-patterns")))
void im2col(const Geometry& g, const T* x, T* col, int64_t ld, T* padded) {
  const int64_t Hp = g.H + 2 * g.ph, Wp = g.W + 2 * g.pw;
  const T* src = x;
  if (g.ph > 0 || g.pw > 0) {
    src = padded;
    for (int64_t c = 0; c < g.Cg; ++c) {
      for (int64_t r = 0; r < Hp; ++r) {
        T* out = padded + (c * Hp + r) * Wp;
        const int64_t ih = r - g.ph;
        if (ih < 0 || ih >= g.H) {
          for (int64_t i = 0; i < Wp; ++i) out[i] = T(0);
          continue;
        }
        const T* in = x + (c * g.H + ih) * g.W;
        for (int64_t i = 0; i < g.pw; ++i) out[i] = T(0);
        for (int64_t i = 0; i < g.W; ++i) out[g.pw + i] = in[i];
        for (int64_t i = g.pw + g.W; i < Wp; ++i) out[i] = T(0);
      }
    }
  }
  for (int64_t c = 0; c < g.Cg; ++c) {
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        T* row = col + ((c * g.kh + ki) * g.kw + kj) * ld;
        const T* base = src + (c * Hp + ki * g.dh) * Wp + kj * g.dw;
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          const T* in = base + oh * g.sh * Wp;
          T* out = row + oh * g.Wo;
          if (g.sw == 1) {
            for (int64_t ow = 0; ow < g.Wo; ++ow) out[ow] = in[ow];
          } else {
            for (int64_t ow = 0; ow < g.Wo; ++ow) out[ow] = in[ow * g.sw];
          }
        }
      }
    }
  }
}

// dx (Cg, H, W) <- the column gradients summed back onto the pixels they were read from, through
// the same zero-bordered buffer as im2col (its border collects the padding's gradient, dropped).
template <class T>
__attribute__((optimize("no-tree-loop-distribute-patterns")))
void col2im(const Geometry& g, const T* col, int64_t ld, T* dx, T* padded) {
  const int64_t Hp = g.H + 2 * g.ph, Wp = g.W + 2 * g.pw;
  for (int64_t i = 0; i < g.Cg * Hp * Wp; ++i) padded[i] = T(0);
  for (int64_t c = 0; c < g.Cg; ++c) {
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const T* row = col + ((c * g.kh + ki) * g.kw + kj) * ld;
        T* base = padded + (c * Hp + ki * g.dh) * Wp + kj * g.dw;
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          T* out = base + oh * g.sh * Wp;
          const T* in = row + oh * g.Wo;
          if (g.sw == 1) {
            for (int64_t ow = 0; ow < g.Wo; ++ow) out[ow] += in[ow];
          } else {
            for (int64_t ow = 0; ow < g.Wo; ++ow) out[ow * g.sw] += in[ow];
          }
        }
      }
    }
  }
  for (int64_t c = 0; c < g.Cg; ++c)
    for (int64_t ih = 0; ih < g.H; ++ih) {
      const T* in = padded + (c * Hp + ih + g.ph) * Wp + g.pw;
      T* out = dx + (c * g.H + ih) * g.W;
      for (int64_t i = 0; i < g.W; ++i) out[i] = in[i];
    }
}

// Column matrix (K, B*P) of group `grp` for images [n0, n0 + B): image b fills columns
// [b*P, (b+1)*P). For a pointwise conv of a single image the input itself is that matrix.
template <class T>
const T* gather_columns(const Geometry& g, const T* x, int64_t n0, int64_t B, int64_t grp,
                        T* col) {
  auto image = [&](int64_t b) { return x + ((n0 + b) * g.C + grp * g.Cg) * g.H * g.W; };
  if (g.pointwise && B == 1) return image(0);
  T* padded = scratch<T>(2, g.Cg * (g.H + 2 * g.ph) * (g.W + 2 * g.pw));
  for (int64_t b = 0; b < B; ++b) im2col(g, image(b), col + b * g.P, B * g.P, padded);
  return col;
}

// Output-gradient matrix (Og, B*P) of group `grp` for images [n0, n0 + B), laid out like the
// columns; a single image is read in place.
template <class T>
const T* gather_rows(const Geometry& g, const T* dy, int64_t n0, int64_t B, int64_t grp, T* buf) {
  auto image = [&](int64_t b) { return dy + ((n0 + b) * g.O + grp * g.Og) * g.P; };
  if (B == 1) return image(0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t o = 0; o < g.Og; ++o)
      std::copy_n(image(b) + o * g.P, g.P, buf + o * B * g.P + b * g.P);
  return buf;
}

// Splits images [0, N) evenly across threads; each thread walks its share B images at a time. A
// static split keeps the weight gradient's summation order, hence its bits, fixed for a thread count.
template <class F>
void for_image_chunks(const Geometry& g, int threads, int64_t B, F&& body) {
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t begin = g.N * t / nt, end = g.N * (t + 1) / nt;
    for (int64_t n0 = begin; n0 < end; n0 += B) body(t, n0, std::min(B, end - n0));
  }
}

template <class T>
void forward_gemm(const Geometry& g, const T* x, const T* w, T* y) {
  const int64_t B = images_per_gemm(g);
  const int threads = threads_for(g.N);
  SingleThreadedBlas guard(threads > 1);
  for_image_chunks(g, threads, B, [&](int, int64_t n0, int64_t nb) {
    const int64_t cols = nb * g.P;
    T* col = scratch<T>(0, g.K * cols);
    T* ybuf = scratch<T>(1, g.Og * cols);
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* col_mat = gather_columns(g, x, n0, nb, grp, col);
      const T* wg = w + grp * g.Og * g.ldw;
      if (nb == 1) {
        gemm(CblasNoTrans, CblasNoTrans, g.Og, g.P, g.K, T(1), wg, g.ldw, col_mat, g.P, T(0),
             y + (n0 * g.O + grp * g.Og) * g.P, g.P);
        continue;
      }
      gemm(CblasNoTrans, CblasNoTrans, g.Og, cols, g.K, T(1), wg, g.ldw, col_mat, cols, T(0),
           ybuf, cols);
      for (int64_t b = 0; b < nb; ++b)
        for (int64_t o = 0; o < g.Og; ++o)
          std::copy_n(ybuf + o * cols + b * g.P, g.P, y + ((n0 + b) * g.O + grp * g.Og + o) * g.P);
    }
  });
}

template <class T>
void backward_data_gemm(const Geometry& g, const T* dy, const T* w, T* dx) {
  const int64_t B = images_per_gemm(g);
  const int threads = threads_for(g.N);
  SingleThreadedBlas guard(threads > 1);
  for_image_chunks(g, threads, B, [&](int, int64_t n0, int64_t nb) {
    const int64_t cols = nb * g.P;
    T* col = scratch<T>(0, g.K * cols);
    T* dybuf = scratch<T>(1, g.Og * cols);
    T* padded = scratch<T>(2, g.Cg * (g.H + 2 * g.ph) * (g.W + 2 * g.pw));
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* dy_mat = gather_rows(g, dy, n0, nb, grp, dybuf);
      const T* wg = w + grp * g.Og * g.ldw;
      T* dxg = dx + (n0 * g.C + grp * g.Cg) * g.H * g.W;
      if (g.pointwise && nb == 1) {  // the column gradient is the input gradient
        gemm(CblasTrans, CblasNoTrans, g.K, g.P, g.Og, T(1), wg, g.ldw, dy_mat, g.P, T(0), dxg,
             g.P);
        continue;
      }
      gemm(CblasTrans, CblasNoTrans, g.K, cols, g.Og, T(1), wg, g.ldw, dy_mat, cols, T(0), col,
           cols);
      for (int64_t b = 0; b < nb; ++b)
        col2im(g, col + b * g.P, cols, dxg + b * g.C * g.H * g.W, padded);
    }
  });
}

template <class T>
void backward_weight_gemm(const Geometry& g, const T* x, const T* dy, T* dw, bool accumulate) {
  const int64_t B = images_per_gemm(g);
  const int threads = threads_for(g.N);
  // One packed (O, K) partial sum per thread, summed into dw at the end.
  std::vector<T> partial(size_t(threads) * g.O * g.K, T(0));
  SingleThreadedBlas guard(threads > 1);
  for_image_chunks(g, threads, B, [&](int t, int64_t n0, int64_t nb) {
    const int64_t cols = nb * g.P;
    T* col = scratch<T>(0, g.K * cols);
    T* dybuf = scratch<T>(1, g.Og * cols);
    T* acc = partial.data() + size_t(t) * g.O * g.K;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* col_mat = gather_columns(g, x, n0, nb, grp, col);
      const T* dy_mat = gather_rows(g, dy, n0, nb, grp, dybuf);
      gemm(CblasNoTrans, CblasTrans, g.Og, g.K, cols, T(1), dy_mat, cols, col_mat, cols, T(1),
           acc + grp * g.Og * g.K, g.K);
    }
  });
  for (int64_t o = 0; o < g.O; ++o) {
    T* row = dw + o * g.ldw;
    for (int64_t k = 0; k < g.K; ++k) {
      T s = accumulate ? row[k] : T(0);
      for (int t = 0; t < threads; ++t) s += partial[(size_t(t) * g.O + o) * g.K + k];
      row[k] = s;
    }
  }
}

// ---- direct kernels for one input channel per group (Cg == 1) ----

// y[n, o] = sum over the kernel taps of w[o] * x[n, o / Og], tap by tap over whole output rows.
template <class T>
void forward_direct(const Geometry& g, const T* x, const T* w, T* y) {
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < g.N * g.O; ++plane) {
    const int64_t n = plane / g.O, o = plane % g.O;
    const T* xin = x + (n * g.C + o / g.Og) * g.H * g.W;
    const T* wk = w + o * g.ldw;
    T* out = y + plane * g.P;
    std::fill_n(out, g.P, T(0));
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const T wv = wk[ki * g.kw + kj];
        const int64_t iw0 = kj * g.dw - g.pw;
        int64_t lo, hi;
        g.valid_columns(iw0, lo, hi);
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          const int64_t ih = oh * g.sh - g.ph + ki * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          const T* in = xin + ih * g.W + iw0;
          T* o_row = out + oh * g.Wo;
          if (g.sw == 1) {
            for (int64_t ow = lo; ow < hi; ++ow) o_row[ow] += wv * in[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) o_row[ow] += wv * in[ow * g.sw];
          }
        }
      }
    }
  }
}

// dx[n, c] = sum over the Og outputs of group c of their taps scattered back; one thread owns
// each input plane, so the scatter has no races.
template <class T>
void backward_data_direct(const Geometry& g, const T* dy, const T* w, T* dx) {
#pragma omp parallel for schedule(static)
  for (int64_t plane = 0; plane < g.N * g.C; ++plane) {
    const int64_t n = plane / g.C, c = plane % g.C;
    T* out = dx + plane * g.H * g.W;
    std::fill_n(out, g.H * g.W, T(0));
    for (int64_t o = c * g.Og; o < (c + 1) * g.Og; ++o) {
      const T* grad = dy + (n * g.O + o) * g.P;
      const T* wk = w + o * g.ldw;
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const T wv = wk[ki * g.kw + kj];
          const int64_t iw0 = kj * g.dw - g.pw;
          int64_t lo, hi;
          g.valid_columns(iw0, lo, hi);
          for (int64_t oh = 0; oh < g.Ho; ++oh) {
            const int64_t ih = oh * g.sh - g.ph + ki * g.dh;
            if (ih < 0 || ih >= g.H) continue;
            T* in = out + ih * g.W + iw0;
            const T* g_row = grad + oh * g.Wo;
            if (g.sw == 1) {
              for (int64_t ow = lo; ow < hi; ++ow) in[ow] += wv * g_row[ow];
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) in[ow * g.sw] += wv * g_row[ow];
            }
          }
        }
      }
    }
  }
}

// dw[o, tap] = sum over images and output pixels of dy * the input pixel under that tap. Partial
// sums are kept per output column (acc[tap][ow]) so the inner loop is an elementwise multiply-add
// that vectorises; the columns are summed once at the end.
template <class T>
void backward_weight_direct(const Geometry& g, const T* x, const T* dy, T* dw, bool accumulate) {
  const int64_t taps = g.kh * g.kw;
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < g.O; ++o) {
    std::vector<T> acc(taps * g.Wo, T(0));
    for (int64_t n = 0; n < g.N; ++n) {
      const T* xin = x + (n * g.C + o / g.Og) * g.H * g.W;
      const T* grad = dy + (n * g.O + o) * g.P;
      for (int64_t oh = 0; oh < g.Ho; ++oh) {
        const T* g_row = grad + oh * g.Wo;
        for (int64_t ki = 0; ki < g.kh; ++ki) {
          const int64_t ih = oh * g.sh - g.ph + ki * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            const int64_t iw0 = kj * g.dw - g.pw;
            int64_t lo, hi;
            g.valid_columns(iw0, lo, hi);
            const T* in = xin + ih * g.W + iw0;
            T* a = acc.data() + (ki * g.kw + kj) * g.Wo;
            if (g.sw == 1) {
              for (int64_t ow = lo; ow < hi; ++ow) a[ow] += g_row[ow] * in[ow];
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) a[ow] += g_row[ow] * in[ow * g.sw];
            }
          }
        }
      }
    }
    T* row = dw + o * g.ldw;
    for (int64_t t = 0; t < taps; ++t) {
      T s = accumulate ? row[t] : T(0);
      for (int64_t ow = 0; ow < g.Wo; ++ow) s += acc[t * g.Wo + ow];
      row[t] = s;
    }
  }
}

template <class T>
void forward(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dArgs& a) {
  const Geometry g(x.shape(), w, y.shape(), a);
  if (g.Cg == 1)
    forward_direct(g, x.data<T>(), w.data<T>(), y.data<T>());
  else
    forward_gemm(g, x.data<T>(), w.data<T>(), y.data<T>());
}

template <class T>
void backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv2dArgs& a) {
  const Geometry g(dx.shape(), w, dy.shape(), a);
  if (g.Cg == 1)
    backward_data_direct(g, dy.data<T>(), w.data<T>(), dx.data<T>());
  else
    backward_data_gemm(g, dy.data<T>(), w.data<T>(), dx.data<T>());
}

template <class T>
void backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw, const Conv2dArgs& a,
                     bool accumulate) {
  const Geometry g(x.shape(), dw, dy.shape(), a);
  if (g.Cg == 1)
    backward_weight_direct(g, x.data<T>(), dy.data<T>(), dw.data<T>(), accumulate);
  else
    backward_weight_gemm(g, x.data<T>(), dy.data<T>(), dw.data<T>(), accumulate);
}

}  // namespace

void CpuBackend::set_precision(Precision p) {
  MN_CHECK(p != Precision::tf32, "precision = \"tf32\" is a CUDA mode; on the CPU use \"fp32\" or \"bf16\"");
  if (p == Precision::bf16) {
    MN_CHECK(dnnl_conv::built, "precision = \"bf16\" needs mn built with oneDNN (libdnnl-dev); use \"fp32\"");
    MN_CHECK(dnnl_conv::bf16_supported(), "precision = \"bf16\" needs a CPU with AVX512-BF16 or AMX, and this "
             "one has neither; use \"fp32\"");
  }
  dnnl_conv::set_bf16(p == Precision::bf16);
}

void CpuBackend::set_memory_format(MemoryFormat f) {
  format_ = f;
  dnnl_conv::set_nhwc(f == MemoryFormat::channels_last);
}

// Below, operands that oneDNN does not take run the NCHW kernels (on NCHW copies under
// channels-last: float64 in tests, dilated convs).
void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& y,
                                const Conv2dArgs& args) {
  if (dnnl_conv::applies(dnnl_conv::Pass::forward, x.shape(), w.shape(), x.dtype(), args)) {
    dnnl_conv::forward(x, w, y, args);
    return;
  }
  cpu::via_nchw({x, w}, {y}, [&](const auto& in, const auto& out) {
    cpu::dispatch_float(x.dtype(), "conv2d", [&](auto t) { forward<decltype(t)>(in[0], in[1], out[0], args); });
  });
}

void CpuBackend::conv2d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx,
                                      const Conv2dArgs& args) {
  if (dnnl_conv::applies(dnnl_conv::Pass::backward_data, dx.shape(), w.shape(), dy.dtype(), args)) {
    dnnl_conv::backward_data(dy, w, dx, args);
    return;
  }
  cpu::via_nchw({dy, w}, {dx}, [&](const auto& in, const auto& out) {
    cpu::dispatch_float(dy.dtype(), "conv2d backward",
                        [&](auto t) { backward_data<decltype(t)>(in[0], in[1], out[0], args); });
  });
}

void CpuBackend::conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw,
                                        const Conv2dArgs& args, bool accumulate) {
  if (dnnl_conv::applies(dnnl_conv::Pass::backward_weight, x.shape(), dw.shape(), x.dtype(), args)) {
    dnnl_conv::backward_weight(x, dy, dw, args, accumulate);
    return;
  }
  cpu::via_nchw(
      {x, dy}, {dw},
      [&](const auto& in, const auto& out) {
        cpu::dispatch_float(x.dtype(), "conv2d backward",
                            [&](auto t) { backward_weight<decltype(t)>(in[0], in[1], out[0], args, accumulate); });
      },
      accumulate);
}

void CpuBackend::conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w,
                                 const Tensor& dx, const Tensor& dw, const Conv2dArgs& args) {
  using dnnl_conv::Pass;
  if (dnnl_conv::applies(Pass::backward_data, x.shape(), w.shape(), x.dtype(), args) &&
      dnnl_conv::applies(Pass::backward_weight, x.shape(), w.shape(), x.dtype(), args)) {
    dnnl_conv::backward(dy, x, w, dx, dw, args);
    return;
  }
  conv2d_backward_data(dy, w, dx, args);
  conv2d_backward_weight(x, dy, dw, args, false);
}

}  // namespace mn
