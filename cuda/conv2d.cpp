// CUDA convolutions through cuDNN: forward, backward-data and backward-filter for dense, grouped
// and depthwise 2-D convolutions in NCHW, or in NHWC with KRSC filters under channels-last
// activations (Backend::memory_format: cuDNN's tensor-core kernels run natively there, where NCHW
// costs them transposes): float32 (FMA or TF32 math), or bfloat16 tensors with float32
// accumulation (cuDNN's PSEUDO_BFLOAT16 configuration: bf16 data, float compute type).
//
// Every width x resolution point of a MutualNet is a new set of shapes, so each shape gets a
// plan (cuDNN descriptors plus the algorithm and workspace size of each direction), made once and
// cached by (shapes, stride, padding, dilation, groups, dtype, TF32). Algorithms are measured with
// cudnnFind*Ex like PyTorch's cudnn.benchmark (MN_CUDNN_BENCHMARK=0 takes cuDNN's heuristics
// instead); the measuring workspace comes straight from cudaMalloc so it never inflates the device
// pool, and the run-time workspace comes from the pool.
//
// Filters must be packed for cuDNN. A width-sliced weight W[:o, :i] has packed rows of
// i * kh * kw values, stride(0) apart: it is gathered into a packed buffer with one 2-D copy, and
// its gradient is computed packed and scattered back into the strided region (with accumulate,
// the region is gathered first and cuDNN adds to it with beta = 1). Under NHWC the dispatcher
// hands over dense KRSC filters (nn::Conv2d casts its weight slice to a KRSC compute copy), so
// their rows are always packed.
#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "cuda/common.h"

namespace mn {

namespace {

struct ConvKey {
  int n, c, h, w, o, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  bool bf16;  // bfloat16 tensors (float32 otherwise)
  bool tf32;  // float32 tensors on TF32 tensor cores (always false with bf16)
  bool nhwc;  // x, y NHWC and the filter KRSC (NCHW and KCRS otherwise)
  bool operator==(const ConvKey&) const = default;
};

struct ConvKeyHash {
  size_t operator()(const ConvKey& k) const {
    size_t h = k.tf32 + 2 * k.bf16 + 4 * k.nhwc;
    for (int v : {k.n, k.c, k.h, k.w, k.o, k.kh, k.kw, k.stride_h, k.stride_w, k.pad_h, k.pad_w,
                  k.dil_h, k.dil_w, k.groups})
      h = h * 1000003u ^ static_cast<size_t>(v);
    return h;
  }
};

// The algorithm cuDNN runs for one direction of one plan.
struct Algo {
  bool chosen = false;
  int algo = 0;  // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

struct ConvPlan {
  ConvKey key{};
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Algo fwd, bwd_data, bwd_filter;
};

std::string describe(const ConvKey& k) {
  return cat("x (", k.n, ", ", k.c, ", ", k.h, ", ", k.w, "), w (", k.o, ", ", k.c / k.groups, ", ",
             k.kh, ", ", k.kw, "), stride (", k.stride_h, ", ", k.stride_w, "), pad (", k.pad_h,
             ", ", k.pad_w, "), dilation (", k.dil_h, ", ", k.dil_w, "), groups ", k.groups,
             k.nhwc ? ", NHWC" : ", NCHW");
}

int to_int(int64_t v, const char* what) {
  MN_CHECK(v <= INT32_MAX, "conv2d: ", what, " ", v, " exceeds cuDNN's 32-bit sizes");
  return static_cast<int>(v);
}

ConvKey key_of(const Shape& x, const Shape& w, const Conv2dArgs& a, DType dtype) {
  const bool bf16 = dtype == DType::bf16;
  return {to_int(x[0], "batch"), to_int(x[1], "channels"), to_int(x[2], "height"), to_int(x[3], "width"),
          to_int(w[0], "output channels"), to_int(w[2], "kernel height"), to_int(w[3], "kernel width"),
          a.stride_h, a.stride_w, a.pad_h, a.pad_w, a.dil_h, a.dil_w, a.groups,
          bf16, !bf16 && cuda::context().allow_tf32, cuda::channels_last()};
}

size_t elem_size(const ConvKey& k) { return k.bf16 ? 2 : 4; }

ConvPlan& plan_for(const ConvKey& key, const Shape& y_shape) {
  static std::mutex mu;
  static auto* plans = new std::unordered_map<ConvKey, std::unique_ptr<ConvPlan>, ConvKeyHash>;
  std::lock_guard<std::mutex> lock(mu);
  auto it = plans->find(key);
  if (it != plans->end()) return *it->second;
  auto p = std::make_unique<ConvPlan>();
  p->key = key;
  MN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  MN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  MN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  MN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  // Tensors in their dtype; the convolution's compute type is float32 either way.
  const cudnnDataType_t data = key.bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  // Sizes are given as (N, C, H, W) and (K, C, R, S) in either layout; the format says how they
  // lie in memory (NHWC / KRSC).
  const cudnnTensorFormat_t format = key.nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  MN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, format, data, key.n, key.c, key.h, key.w));
  MN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, data, format, key.o, key.c / key.groups, key.kh,
                                            key.kw));
  MN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, key.pad_h, key.pad_w, key.stride_h,
                                                 key.stride_w, key.dil_h, key.dil_w,
                                                 CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  MN_CUDNN_CHECK(cudnnSetConvolutionGroupCount(p->conv, key.groups));
  int n, c, h, w;
  MN_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &c, &h, &w));
  MN_CHECK(n == y_shape[0] && c == y_shape[1] && h == y_shape[2] && w == y_shape[3],
           "conv2d: cuDNN computes output (", n, ", ", c, ", ", h, ", ", w, ") but mn expects ",
           shape_str(y_shape), " for ", describe(key));
  MN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, format, data, n, c, h, w));
  return *plans->emplace(key, std::move(p)).first->second;
}

// float32 without TF32 restricts cuDNN to FMA kernels (PyTorch's allow_tf32 = False); TF32 is
// cuDNN's default math for float32; bfloat16 asks for tensor-core math explicitly (as PyTorch does
// for half precision), the point of computing in it.
bool fma_only(const ConvKey& key) { return !key.tf32 && !key.bf16; }
cudnnMathType_t requested_math(const ConvKey& key) {
  if (key.bf16) return CUDNN_TENSOR_OP_MATH;
  return key.tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

constexpr size_t kMaxWorkspace = size_t{1} << 30;

// Scratch for cudnnFind*: as much as is sensibly free, up to 1 GiB, straight from the driver.
struct FindWorkspace {
  void* ptr = nullptr;
  size_t size = 0;
  FindWorkspace() {
    size_t free_bytes = 0, total = 0;
    MN_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
    size = std::min(kMaxWorkspace, free_bytes / 2);
    while (size >= (size_t{1} << 20) && cudaMalloc(&ptr, size) != cudaSuccess) {
      cudaGetLastError();
      ptr = nullptr;
      size /= 2;
    }
    if (!ptr) size = 0;
  }
  ~FindWorkspace() {
    if (ptr) cudaFree(ptr);
  }
};

// Picks the fastest successful result of a cudnnFind* / cudnnGet*_v7 perf array.
template <class Perf>
void choose(Algo& out, const Perf* perf, int returned, size_t workspace_limit, const ConvKey& key,
            const char* direction) {
  for (int i = 0; i < returned; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > workspace_limit) continue;
    // With TF32 off, only FMA kernels qualify, whatever cuDNN ranked first.
    if (fma_only(key) && perf[i].mathType != CUDNN_FMA_MATH && perf[i].mathType != CUDNN_DEFAULT_MATH) continue;
    out.algo = static_cast<int>(perf[i].algo);
    out.math = fma_only(key) ? CUDNN_FMA_MATH : perf[i].mathType;
    out.workspace = perf[i].memory;
    out.chosen = true;
    if (cuda::context().cudnn_log)
      std::fprintf(stderr, "cudnn %s %s: algo %d, math %d, workspace %zu B, %.3f ms (%s)\n",
                   direction, describe(key).c_str(), out.algo, static_cast<int>(out.math),
                   out.workspace, static_cast<double>(perf[i].time),
                   cuda::context().cudnn_benchmark ? "measured" : "heuristic");
    return;
  }
  fail("conv2d ", direction, ": cuDNN found no algorithm for ", describe(key));
}

void choose_forward(ConvPlan& p, const void* x, const void* w, void* y) {
  MN_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, requested_math(p.key)));
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  if (cuda::context().cudnn_benchmark) {
    FindWorkspace ws;
    MN_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
        cuda::cudnn(), p.x, x, p.w, w, p.conv, p.y, y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned,
        perf, ws.ptr, ws.size));
    choose(p.fwd, perf, returned, ws.size, p.key, "forward");
  } else {
    MN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(cuda::cudnn(), p.x, p.w, p.conv, p.y,
                                                          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
    choose(p.fwd, perf, returned, kMaxWorkspace, p.key, "forward");
  }
}

void choose_backward_data(ConvPlan& p, const void* w, const void* dy, void* dx) {
  MN_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, requested_math(p.key)));
  cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  int returned = 0;
  if (cuda::context().cudnn_benchmark) {
    FindWorkspace ws;
    MN_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
        cuda::cudnn(), p.w, w, p.y, dy, p.conv, p.x, dx, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
        &returned, perf, ws.ptr, ws.size));
    choose(p.bwd_data, perf, returned, ws.size, p.key, "backward-data");
  } else {
    MN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        cuda::cudnn(), p.w, p.y, p.conv, p.x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf));
    choose(p.bwd_data, perf, returned, kMaxWorkspace, p.key, "backward-data");
  }
}

// Measures into a scratch filter: the real one may hold a gradient being accumulated.
void choose_backward_filter(ConvPlan& p, const void* x, const void* dy) {
  MN_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, requested_math(p.key)));
  cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  int returned = 0;
  if (cuda::context().cudnn_benchmark) {
    cuda::Buffer scratch(static_cast<size_t>(p.key.o) * (p.key.c / p.key.groups) * p.key.kh * p.key.kw * elem_size(p.key));
    FindWorkspace ws;
    MN_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
        cuda::cudnn(), p.x, x, p.y, dy, p.conv, p.w, scratch.get(),
        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned, perf, ws.ptr, ws.size));
    choose(p.bwd_filter, perf, returned, ws.size, p.key, "backward-filter");
  } else {
    MN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        cuda::cudnn(), p.x, p.y, p.conv, p.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned, perf));
    choose(p.bwd_filter, perf, returned, kMaxWorkspace, p.key, "backward-filter");
  }
}

// A weight (O, C/g, kh, kw) as cuDNN needs it: its own memory when rows are adjacent, else a
// packed copy (`storage` keeps it alive). Sizes in elements; elem in bytes.
struct Filter {
  int64_t rows, row_len, row_stride;
  size_t elem;
  bool packed() const { return rows == 1 || row_stride == row_len; }
  size_t packed_bytes() const { return packed() ? 0 : rows * row_len * elem; }
};

Filter filter_of(const Tensor& w) {
  MN_CHECK(!cuda::channels_last() || w.is_contiguous(MemoryFormat::channels_last),
           "conv2d: NHWC convolutions need a dense KRSC filter, got ", shape_str(w.shape()),
           " with strides ", shape_str(w.strides()));
  return {w.size(0), w.size(1) * w.size(2) * w.size(3), w.stride(0), dtype_size(w.dtype())};
}

// Row-strided <-> packed copies of a filter, one cudaMemcpy2DAsync each.
void gather_rows(void* packed, const Tensor& w, const Filter& f) {
  MN_CUDA_CHECK(cudaMemcpy2DAsync(packed, f.row_len * f.elem, w.data_ptr(), f.row_stride * f.elem,
                                  f.row_len * f.elem, f.rows, cudaMemcpyDeviceToDevice, cuda::stream()));
}

void scatter_rows(const Tensor& w, const void* packed, const Filter& f) {
  MN_CUDA_CHECK(cudaMemcpy2DAsync(w.data_ptr(), f.row_stride * f.elem, packed, f.row_len * f.elem,
                                  f.row_len * f.elem, f.rows, cudaMemcpyDeviceToDevice, cuda::stream()));
}

// float32 or bfloat16, the same for every operand of one call.
void require_conv_dtype(const char* op, const Tensor& x, std::initializer_list<const Tensor*> others) {
  MN_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::bf16, op,
           ": the CUDA backend convolves float32 or bfloat16, got ", dtype_name(x.dtype()));
  cuda::require_dtype(op, x.dtype(), others);
}

}  // namespace

void CudaBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& y,
                                 const Conv2dArgs& args) {
  require_conv_dtype("conv2d", x, {&w, &y});
  ConvPlan& p = plan_for(key_of(x.shape(), w.shape(), args, x.dtype()), y.shape());
  const Filter f = filter_of(w);
  cuda::Buffer packed(f.packed_bytes());
  if (!f.packed()) gather_rows(packed.get(), w, f);
  const void* wp = f.packed() ? w.data_ptr() : packed.get();
  if (!p.fwd.chosen) choose_forward(p, x.data_ptr(), wp, y.data_ptr());
  MN_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.fwd.math));
  cuda::Buffer ws(p.fwd.workspace);
  const float one = 1, zero = 0;
  MN_CUDNN_CHECK(cudnnConvolutionForward(cuda::cudnn(), &one, p.x, x.data_ptr(), p.w, wp, p.conv,
                                         static_cast<cudnnConvolutionFwdAlgo_t>(p.fwd.algo), ws.get(),
                                         ws.size(), &zero, p.y, y.data_ptr()));
}

void CudaBackend::conv2d_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx,
                                       const Conv2dArgs& args) {
  require_conv_dtype("conv2d backward-data", dy, {&w, &dx});
  ConvPlan& p = plan_for(key_of(dx.shape(), w.shape(), args, dy.dtype()), dy.shape());
  const Filter f = filter_of(w);
  cuda::Buffer packed(f.packed_bytes());
  if (!f.packed()) gather_rows(packed.get(), w, f);
  const void* wp = f.packed() ? w.data_ptr() : packed.get();
  if (!p.bwd_data.chosen) choose_backward_data(p, wp, dy.data_ptr(), dx.data_ptr());
  MN_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.bwd_data.math));
  cuda::Buffer ws(p.bwd_data.workspace);
  const float one = 1, zero = 0;
  MN_CUDNN_CHECK(cudnnConvolutionBackwardData(
      cuda::cudnn(), &one, p.w, wp, p.y, dy.data_ptr(), p.conv,
      static_cast<cudnnConvolutionBwdDataAlgo_t>(p.bwd_data.algo), ws.get(), ws.size(), &zero, p.x,
      dx.data_ptr()));
}

void CudaBackend::conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw,
                                         const Conv2dArgs& args, bool accumulate) {
  require_conv_dtype("conv2d backward-weight", x, {&dy, &dw});
  ConvPlan& p = plan_for(key_of(x.shape(), dw.shape(), args, x.dtype()), dy.shape());
  if (!p.bwd_filter.chosen) choose_backward_filter(p, x.data_ptr(), dy.data_ptr());
  const Filter f = filter_of(dw);
  cuda::Buffer packed(f.packed_bytes());
  if (!f.packed() && accumulate) gather_rows(packed.get(), dw, f);
  void* dwp = f.packed() ? dw.data_ptr() : packed.get();
  MN_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, p.bwd_filter.math));
  cuda::Buffer ws(p.bwd_filter.workspace);
  const float one = 1, beta = accumulate ? 1.0f : 0.0f;
  MN_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      cuda::cudnn(), &one, p.x, x.data_ptr(), p.y, dy.data_ptr(), p.conv,
      static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.bwd_filter.algo), ws.get(), ws.size(), &beta,
      p.w, dwp));
  if (!f.packed()) scatter_rows(dw, packed.get(), f);
}

}  // namespace mn
