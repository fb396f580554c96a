// The CUDA emulator's cuDNN and cuBLAS: the calls cuda/conv2d.cpp and cuda/matmul.cpp make, as
// direct loops in float32 (double sums) over host memory, for float32 and bfloat16 tensors in NCHW
// or NHWC (filters KCRS or KRSC). The algorithm searches offer one algorithm with the requested
// math and no workspace.
#include <cublas_v2.h>
#include <cudnn.h>

#include <array>
#include <vector>

#include "cuda/emu/emu.h"

struct cudnnContext {};
struct cudnnTensorStruct {
  cudnnTensorFormat_t format;
  cudnnDataType_t type;
  int n, c, h, w;
  std::array<int, 4> dims() const { return {n, c, h, w}; }
};
struct cudnnFilterStruct {
  cudnnTensorFormat_t format;
  cudnnDataType_t type;
  int k, c, r, s;
  std::array<int, 4> dims() const { return {k, c, r, s}; }
};
struct cudnnConvolutionStruct {
  int pad_h, pad_w, u, v, dil_h, dil_w, groups = 1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};
struct cublasContext {};

namespace {

float load(const void* p, cudnnDataType_t t, size_t i) {
  return t == CUDNN_DATA_BFLOAT16 ? __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i])
                                  : static_cast<const float*>(p)[i];
}
void store(void* p, cudnnDataType_t t, size_t i, float v) {
  if (t == CUDNN_DATA_BFLOAT16) static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(v);
  else static_cast<float*>(p)[i] = v;
}
size_t at(const cudnnTensorStruct& d, int n, int c, int h, int w) {
  return d.format == CUDNN_TENSOR_NHWC ? ((size_t(n) * d.h + h) * d.w + w) * d.c + c
                                       : ((size_t(n) * d.c + c) * d.h + h) * d.w + w;
}
size_t at(const cudnnFilterStruct& d, int k, int c, int r, int s) {
  return d.format == CUDNN_TENSOR_NHWC ? ((size_t(k) * d.r + r) * d.s + s) * d.c + c
                                       : ((size_t(k) * d.c + c) * d.r + r) * d.s + s;
}

// Calls f(i, offset) for every element of a tensor (filter) descriptor: i counts in NCHW (KCRS)
// order, offset is where the element lies in the descriptor's layout.
template <class D, class F>
void each_element(const D& d, F f) {
  const auto [d0, d1, d2, d3] = d.dims();
  size_t i = 0;
  for (int a = 0; a < d0; ++a)
    for (int b = 0; b < d1; ++b)
      for (int c = 0; c < d2; ++c)
        for (int e = 0; e < d3; ++e) f(i++, at(d, a, b, c, e));
}

// A tensor as float32 NCHW (a filter as KCRS), whatever its layout and type.
template <class D>
std::vector<float> unpack(const void* p, const D& d) {
  const auto dims = d.dims();
  std::vector<float> v(size_t(dims[0]) * dims[1] * dims[2] * dims[3]);
  each_element(d, [&](size_t i, size_t at) { v[i] = load(p, d.type, at); });
  return v;
}

// out = alpha * sums + beta * out: sums in NCHW (KCRS) order, out in its descriptor's layout.
template <class D>
void blend(void* out, const D& d, const std::vector<double>& sums, const void* alpha, const void* beta) {
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  each_element(d, [&](size_t i, size_t at) {
    store(out, d.type, at, a * float(sums[i]) + (b == 0 ? 0.f : b * load(out, d.type, at)));
  });
}

// One convolution's geometry. Its GEMM view, per image and group: rows (c, r, s) of the group's
// input channels, columns (p, q) of the output plane; y = W col, dcol = W^T dy, dW = dy col^T.
struct Geometry {
  const cudnnTensorStruct &x, &y;
  const cudnnFilterStruct& w;
  const cudnnConvolutionStruct& cv;
  int rows() const { return w.c * w.r * w.s; }
  int cols() const { return y.h * y.w; }
  int kg() const { return y.c / cv.groups; }
  // Calls f(row, col, input offset within the image) for every (row, col) that reads inside x.
  template <class F>
  void each_tap(int g, F f) const {
    for (int c = 0; c < w.c; ++c)
      for (int r = 0; r < w.r; ++r)
        for (int s = 0; s < w.s; ++s) {
          const int row = (c * w.r + r) * w.s + s;
          const size_t plane = size_t(g * w.c + c) * x.h * x.w;
          for (int p = 0; p < y.h; ++p) {
            const int hi = p * cv.u - cv.pad_h + r * cv.dil_h;
            if (hi < 0 || hi >= x.h) continue;
            for (int q = 0; q < y.w; ++q) {
              const int wi = q * cv.v - cv.pad_w + s * cv.dil_w;
              if (wi >= 0 && wi < x.w) f(row, p * y.w + q, plane + size_t(hi) * x.w + wi);
            }
          }
        }
  }
  // The column matrix of image n (x as unpacked), group g.
  std::vector<float> im2col(const std::vector<float>& xs, int n, int g) const {
    std::vector<float> col(size_t(rows()) * cols(), 0.f);
    const float* xn = xs.data() + size_t(n) * x.c * x.h * x.w;
    each_tap(g, [&](int row, int c, size_t at) { col[size_t(row) * cols() + c] = xn[at]; });
    return col;
  }
};

template <class Perf, class Algo>
cudnnStatus_t one_algorithm(const cudnnConvolutionStruct* cv, int* returned, Perf* perf) {
  perf[0] = Perf{};
  perf[0].algo = Algo(0);
  perf[0].status = CUDNN_STATUS_SUCCESS;
  perf[0].mathType = cv->math;
  *returned = 1;
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

extern "C" {

cudnnStatus_t cudnnCreate(cudnnHandle_t* h) {
  *h = new cudnnContext;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t, cudaStream_t) { return CUDNN_STATUS_SUCCESS; }
const char* cudnnGetErrorString(cudnnStatus_t s) { return s == CUDNN_STATUS_SUCCESS ? "success" : "emulated error"; }
cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) {
  *d = new cudnnTensorStruct{};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) {
  *d = new cudnnFilterStruct{};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
  *d = new cudnnConvolutionStruct{};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t f, cudnnDataType_t t,
                                         int n, int c, int h, int w) {
  *d = {f, t, n, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t t, cudnnTensorFormat_t f,
                                         int k, int c, int r, int s) {
  *d = {f, t, k, c, r, s};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
                                              int dil_h, int dil_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t) {
  if (mode != CUDNN_CROSS_CORRELATION) return CUDNN_STATUS_NOT_SUPPORTED;
  d->pad_h = pad_h, d->pad_w = pad_w, d->u = u, d->v = v, d->dil_h = dil_h, d->dil_w = dil_w;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t d, int groups) {
  d->groups = groups;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t m) {
  d->math = m;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t cv,
                                                    const cudnnTensorDescriptor_t x,
                                                    const cudnnFilterDescriptor_t w, int* n, int* c, int* h,
                                                    int* wo) {
  if (x->c != w->c * cv->groups || w->k % cv->groups) return CUDNN_STATUS_BAD_PARAM;
  *n = x->n;
  *c = w->k;
  *h = (x->h + 2 * cv->pad_h - cv->dil_h * (w->r - 1) - 1) / cv->u + 1;
  *wo = (x->w + 2 * cv->pad_w - cv->dil_w * (w->s - 1) - 1) / cv->v + 1;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t, const cudnnTensorDescriptor_t, const void*,
                                                     const cudnnFilterDescriptor_t, const void*,
                                                     const cudnnConvolutionDescriptor_t cv,
                                                     const cudnnTensorDescriptor_t, void*, int, int* returned,
                                                     cudnnConvolutionFwdAlgoPerf_t* perf, void*, size_t) {
  return one_algorithm<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(cv, returned, perf);
}
cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t, const cudnnTensorDescriptor_t,
                                                     const cudnnFilterDescriptor_t,
                                                     const cudnnConvolutionDescriptor_t cv,
                                                     const cudnnTensorDescriptor_t, int, int* returned,
                                                     cudnnConvolutionFwdAlgoPerf_t* perf) {
  return one_algorithm<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(cv, returned, perf);
}
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(cudnnHandle_t, const cudnnFilterDescriptor_t,
                                                          const void*, const cudnnTensorDescriptor_t, const void*,
                                                          const cudnnConvolutionDescriptor_t cv,
                                                          const cudnnTensorDescriptor_t, void*, int,
                                                          int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf,
                                                          void*, size_t) {
  return one_algorithm<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(cv, returned, perf);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t, const cudnnFilterDescriptor_t,
                                                          const cudnnTensorDescriptor_t,
                                                          const cudnnConvolutionDescriptor_t cv,
                                                          const cudnnTensorDescriptor_t, int, int* returned,
                                                          cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  return one_algorithm<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(cv, returned, perf);
}
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(
    cudnnHandle_t, const cudnnTensorDescriptor_t, const void*, const cudnnTensorDescriptor_t, const void*,
    const cudnnConvolutionDescriptor_t cv, const cudnnFilterDescriptor_t, void*, int, int* returned,
    cudnnConvolutionBwdFilterAlgoPerf_t* perf, void*, size_t) {
  return one_algorithm<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(cv, returned, perf);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t, const cudnnTensorDescriptor_t,
                                                            const cudnnTensorDescriptor_t,
                                                            const cudnnConvolutionDescriptor_t cv,
                                                            const cudnnFilterDescriptor_t, int, int* returned,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  return one_algorithm<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(cv, returned, perf);
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t, const void* alpha, const cudnnTensorDescriptor_t xd,
                                      const void* x, const cudnnFilterDescriptor_t wd, const void* w,
                                      const cudnnConvolutionDescriptor_t cv, cudnnConvolutionFwdAlgo_t, void*,
                                      size_t, const void* beta, const cudnnTensorDescriptor_t yd, void* y) {
  const Geometry geo{*xd, *yd, *wd, *cv};
  const std::vector<float> xs = unpack(x, *xd), ws = unpack(w, *wd);
  const int rows = geo.rows(), cols = geo.cols();
  std::vector<double> sums(size_t(yd->n) * yd->c * cols);  // NCHW
  for (int n = 0; n < yd->n; ++n)
    for (int g = 0; g < cv->groups; ++g) {
      const std::vector<float> col = geo.im2col(xs, n, g);
      for (int k = g * geo.kg(); k < (g + 1) * geo.kg(); ++k) {
        double* out = sums.data() + (size_t(n) * yd->c + k) * cols;
        for (int row = 0; row < rows; ++row) {
          const double wv = ws[size_t(k) * rows + row];
          const float* cr = col.data() + size_t(row) * cols;
          for (int j = 0; j < cols; ++j) out[j] += wv * cr[j];
        }
      }
    }
  blend(y, *yd, sums, alpha, beta);
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t, const void* alpha, const cudnnFilterDescriptor_t wd,
                                           const void* w, const cudnnTensorDescriptor_t dyd, const void* dy,
                                           const cudnnConvolutionDescriptor_t cv, cudnnConvolutionBwdDataAlgo_t,
                                           void*, size_t, const void* beta, const cudnnTensorDescriptor_t dxd,
                                           void* dx) {
  const Geometry geo{*dxd, *dyd, *wd, *cv};
  const std::vector<float> dys = unpack(dy, *dyd), ws = unpack(w, *wd);
  const int rows = geo.rows(), cols = geo.cols();
  std::vector<double> sums(size_t(dxd->n) * dxd->c * dxd->h * dxd->w);  // NCHW
  std::vector<double> dcol(size_t(rows) * cols);
  for (int n = 0; n < dyd->n; ++n)
    for (int g = 0; g < cv->groups; ++g) {
      std::fill(dcol.begin(), dcol.end(), 0.0);
      for (int k = g * geo.kg(); k < (g + 1) * geo.kg(); ++k) {
        const float* d = dys.data() + (size_t(n) * dyd->c + k) * cols;
        for (int row = 0; row < rows; ++row) {
          const double wv = ws[size_t(k) * rows + row];
          double* out = dcol.data() + size_t(row) * cols;
          for (int j = 0; j < cols; ++j) out[j] += wv * d[j];
        }
      }
      double* dxn = sums.data() + size_t(n) * dxd->c * dxd->h * dxd->w;
      geo.each_tap(g, [&](int row, int c, size_t at) { dxn[at] += dcol[size_t(row) * cols + c]; });
    }
  blend(dx, *dxd, sums, alpha, beta);
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t, const void* alpha, const cudnnTensorDescriptor_t xd,
                                             const void* x, const cudnnTensorDescriptor_t dyd, const void* dy,
                                             const cudnnConvolutionDescriptor_t cv,
                                             cudnnConvolutionBwdFilterAlgo_t, void*, size_t, const void* beta,
                                             const cudnnFilterDescriptor_t dwd, void* dw) {
  const Geometry geo{*xd, *dyd, *dwd, *cv};
  const std::vector<float> xs = unpack(x, *xd), dys = unpack(dy, *dyd);
  const int rows = geo.rows(), cols = geo.cols();
  std::vector<double> sums(size_t(dwd->k) * rows);  // KCRS
  for (int n = 0; n < dyd->n; ++n)
    for (int g = 0; g < cv->groups; ++g) {
      const std::vector<float> col = geo.im2col(xs, n, g);
      for (int k = g * geo.kg(); k < (g + 1) * geo.kg(); ++k) {
        const float* d = dys.data() + (size_t(n) * dyd->c + k) * cols;
        for (int row = 0; row < rows; ++row) {
          const float* cr = col.data() + size_t(row) * cols;
          double s = 0;
          for (int j = 0; j < cols; ++j) s += double(d[j]) * cr[j];
          sums[size_t(k) * rows + row] += s;
        }
      }
    }
  blend(dw, *dwd, sums, alpha, beta);
  return CUDNN_STATUS_SUCCESS;
}

// ---- cuBLAS: column-major C (m, n) = alpha op(A) op(B) + beta C -------------------------------

cublasStatus_t cublasCreate_v2(cublasHandle_t* h) {
  *h = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
const char* cublasGetStatusName(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "emulated"; }
const char* cublasGetStatusString(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS ? "success" : "emulated error"; }

cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void* alpha, const void* a, cudaDataType at, int lda, const void* b,
                            cudaDataType bt, int ldb, const void* beta, void* c, cudaDataType ct, int ldc,
                            cublasComputeType_t, cublasGemmAlgo_t) {
  auto type = [](cudaDataType t) { return t == CUDA_R_16BF ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT; };
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double s = 0;
      for (int l = 0; l < k; ++l) {
        const size_t ai = ta == CUBLAS_OP_N ? i + size_t(l) * lda : l + size_t(i) * lda;
        const size_t bi = tb == CUBLAS_OP_N ? l + size_t(j) * ldb : j + size_t(l) * ldb;
        s += double(load(a, type(at), ai)) * load(b, type(bt), bi);
      }
      const size_t ci = i + size_t(j) * ldc;
      store(c, type(ct), ci, al * float(s) + (be == 0 ? 0.f : be * load(c, type(ct), ci)));
    }
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const float* alpha, const float* a, int lda, const float* b, int ldb,
                              const float* beta, float* c, int ldc) {
  return cublasGemmEx(h, ta, tb, m, n, k, alpha, a, CUDA_R_32F, lda, b, CUDA_R_32F, ldb, beta, c, CUDA_R_32F, ldc,
                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

}  // extern "C"
