// oneDNN convolutions (see conv2d_dnnl.h). Tensors stay NCHW / OIHW in mn; each call reorders its
// operands into the layouts oneDNN picks, runs the primitive and reorders the result back.
// Primitives come from oneDNN's own cache, so a shape seen before costs no JIT compilation.
#ifdef MN_HAVE_DNNL
#include "tensor/conv2d_dnnl.h"

#include <dnnl.hpp>

#include <unordered_map>
#include <vector>

namespace mn::dnnl_conv {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

memory::dims dims_of(const Shape& s) { return memory::dims(s.begin(), s.end()); }

// The three descriptors of one convolution, layouts left to oneDNN.
struct Descs {
  memory::desc x, w, y;
  memory::dims stride, pad;
  Descs(const Shape& x_shape, const Shape& w_shape, const Shape& y_shape, const Conv2dArgs& a)
      : x(dims_of(x_shape), memory::data_type::f32, tag::any),
        w(dims_of(w_shape), memory::data_type::f32, tag::any),
        y(dims_of(y_shape), memory::data_type::f32, tag::any),
        stride{a.stride_h, a.stride_w},
        pad{a.pad_h, a.pad_w} {}
};

dnnl::convolution_forward::primitive_desc forward_pd(const Descs& d) {
  return {{dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, d.x, d.w, d.y,
           d.stride, d.pad, d.pad},
          engine()};
}

// A user tensor (contiguous NCHW or OIHW) wrapped without a copy.
memory plain(const Tensor& t, tag layout) {
  return memory({dims_of(t.shape()), memory::data_type::f32, layout}, engine(), t.data_ptr());
}

// Memory in layout `d`, its bytes from mn's caching allocator (oneDNN's own would page-fault a
// fresh buffer per call); `keep` holds them until the stream has finished.
memory buffer(const memory::desc& d, std::vector<Tensor>& keep) {
  keep.push_back(Tensor::empty({static_cast<int64_t>(d.get_size() / sizeof(float))}, DType::f32));
  return memory(d, engine(), keep.back().data_ptr());
}

// `from` in the layout `want`: itself when it already is, else a reordered copy.
memory in_layout(memory from, const memory::desc& want, dnnl::stream& s,
                 std::vector<Tensor>& keep) {
  if (from.get_desc() == want) return from;
  memory to = buffer(want, keep);
  dnnl::reorder(from, to).execute(s, from, to);
  return to;
}

// oneDNN reports failures as dnnl::error; mn's callers expect mn::Error naming the op.
template <class F>
void guarded(const char* what, const Shape& x, const Shape& w, F&& f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    fail("conv2d ", what, " (oneDNN) failed for input ", shape_str(x), ", weight ", shape_str(w),
         ": ", e.what());
  }
}

// Runs `prim` on `args` plus its output `out_arg`, written straight into the user's plain tensor
// `out` when oneDNN's layout `out_desc` is that one, else through a buffer reordered into it.
void run(const dnnl::primitive& prim, std::unordered_map<int, memory> args, int out_arg,
         const memory::desc& out_desc, memory out, dnnl::stream& s, std::vector<Tensor>& keep) {
  memory result = out_desc == out.get_desc() ? out : buffer(out_desc, keep);
  args[out_arg] = result;
  prim.execute(s, args);
  if (result != out) dnnl::reorder(result, out).execute(s, result, out);
  s.wait();
}

}  // namespace

bool applies(const Shape& x, const Shape& w, DType dtype, const Conv2dArgs& a) {
  return dtype == DType::f32 && a.groups == 1 && w[2] == 3 && w[3] == 3 && a.stride_h == 1 &&
         a.stride_w == 1 && a.dil_h == 1 && a.dil_w == 1 && x[1] >= 16 && w[0] >= 16;
}

void forward(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dArgs& a) {
  guarded("forward", x.shape(), w.shape(), [&] {
    dnnl::stream s(engine());
    std::vector<Tensor> keep;
    const Tensor wp = w.contiguous();  // a width slice W[:o, :i] has rows stride(0) apart
    const Descs d(x.shape(), w.shape(), y.shape(), a);
    const auto pd = forward_pd(d);
    run(dnnl::convolution_forward(pd),
        {{DNNL_ARG_SRC, in_layout(plain(x, tag::nchw), pd.src_desc(), s, keep)},
         {DNNL_ARG_WEIGHTS, in_layout(plain(wp, tag::oihw), pd.weights_desc(), s, keep)}},
        DNNL_ARG_DST, pd.dst_desc(), plain(y, tag::nchw), s, keep);
  });
}

void backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv2dArgs& a) {
  guarded("backward-data", dx.shape(), w.shape(), [&] {
    dnnl::stream s(engine());
    std::vector<Tensor> keep;
    const Tensor wp = w.contiguous();  // a width slice W[:o, :i] has rows stride(0) apart
    const Descs d(dx.shape(), w.shape(), dy.shape(), a);
    const dnnl::convolution_backward_data::primitive_desc pd(
        {dnnl::algorithm::convolution_direct, d.x, d.w, d.y, d.stride, d.pad, d.pad}, engine(),
        forward_pd(d));
    run(dnnl::convolution_backward_data(pd),
        {{DNNL_ARG_DIFF_DST, in_layout(plain(dy, tag::nchw), pd.diff_dst_desc(), s, keep)},
         {DNNL_ARG_WEIGHTS, in_layout(plain(wp, tag::oihw), pd.weights_desc(), s, keep)}},
        DNNL_ARG_DIFF_SRC, pd.diff_src_desc(), plain(dx, tag::nchw), s, keep);
  });
}

}  // namespace mn::dnnl_conv
#endif
