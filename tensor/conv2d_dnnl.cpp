// oneDNN convolutions (see conv2d_dnnl.h). With mn's NCHW / OIHW tensors each call reorders its
// operands into the layouts oneDNN picks, runs the primitive and reorders the result back. With
// channels-last ones (NHWC / OHWI) the primitives read and write the activations in place; only
// the small weights are reordered.
//
// Building a primitive descriptor (oneDNN walks its list of implementations) and each reorder
// costs tens of microseconds, as much as a small layer's whole pass, so every pass of every shape
// is planned once and kept (a Plan).
#ifdef MN_HAVE_DNNL
#include "tensor/conv2d_dnnl.h"

#include <dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <array>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace mn::dnnl_conv {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

bool bf16_on = false;
bool nhwc_on = false;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

memory::dims dims_of(const Shape& s) { return memory::dims(s.begin(), s.end()); }
memory::desc plain_desc(const Shape& s, tag layout) {
  return {dims_of(s), memory::data_type::f32, layout};
}
// oneDNN's weight dims: mn's (O, C/groups, kh, kw), split as (groups, O/groups, ...) when grouped.
Shape weight_dims(const Shape& w, int groups) {
  if (groups == 1) return w;
  return {groups, w[0] / groups, w[1], w[2], w[3]};
}

// One pass of one convolution shape, ready to run: the primitive, and the reorders from mn's
// plain layouts into the two it reads and from the one it writes (absent where the plain layout
// is already the primitive's).
struct Plan {
  dnnl::primitive prim;
  int in_arg[2], out_arg;
  memory::desc in_desc[2], out_desc;      // oneDNN's layouts
  memory::desc scratch;                   // the primitive's working memory
  memory::desc plain_in[2], plain_out;    // mn's
  std::optional<dnnl::reorder> to_in[2], from_out;
};

std::optional<dnnl::reorder> reorder_between(const memory::desc& from, const memory::desc& to) {
  if (from == to) return std::nullopt;
  return dnnl::reorder(dnnl::reorder::primitive_desc(engine(), from, engine(), to));
}

// The pass's primitive for input x_shape, weight w_shape and output y_shape, layouts left to
// oneDNN, or for the activations NHWC with `nhwc`. In bfloat16 the two operands a pass reads are
// bfloat16 (the reorders into the primitive's layouts round them) and the one it writes is float32.
Plan make_plan(Pass pass, const Shape& x_shape, const Shape& w_shape, const Shape& y_shape,
               const Conv2dArgs& a, bool bf16, bool nhwc) {
  auto desc = [&](const Shape& s, bool operand, tag layout) {
    const auto type = bf16 && operand ? memory::data_type::bf16 : memory::data_type::f32;
    return memory::desc(dims_of(s), type, layout);
  };
  const tag act = nhwc ? tag::nhwc : tag::any;
  auto any = [&](const Shape& s, bool operand) { return desc(s, operand, tag::any); };
  const Shape wd = weight_dims(w_shape, a.groups);
  const memory::desc x = desc(x_shape, pass != Pass::backward_data, act),
                     w = any(wd, pass != Pass::backward_weight),
                     y = desc(y_shape, pass != Pass::forward, act);
  const memory::dims stride{a.stride_h, a.stride_w}, pad{a.pad_h, a.pad_w};
  const auto algo = dnnl::algorithm::convolution_direct;
  // Working memory from the caller, not oneDNN's one global buffer: the weight gradient runs
  // primitives on both threads at once.
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  // The backward passes take a forward descriptor as a hint; in bfloat16 the forward one's types.
  const dnnl::convolution_forward::primitive_desc fwd(
      {dnnl::prop_kind::forward_training, algo, desc(x_shape, true, act), any(wd, true),
       desc(y_shape, false, act), stride, pad, pad},
      attr, engine());
  const memory::desc px = plain_desc(x_shape, nhwc ? tag::nhwc : tag::nchw),
                     pw = plain_desc(wd, a.groups > 1 ? (nhwc ? tag::gohwi : tag::goihw)
                                                      : (nhwc ? tag::ohwi : tag::oihw)),
                     py = plain_desc(y_shape, nhwc ? tag::nhwc : tag::nchw);
  Plan p;
  switch (pass) {
    case Pass::forward:
      p.prim = dnnl::convolution_forward(fwd);
      p.scratch = fwd.scratchpad_desc();
      p.in_arg[0] = DNNL_ARG_SRC, p.in_desc[0] = fwd.src_desc(), p.plain_in[0] = px;
      p.in_arg[1] = DNNL_ARG_WEIGHTS, p.in_desc[1] = fwd.weights_desc(), p.plain_in[1] = pw;
      p.out_arg = DNNL_ARG_DST, p.out_desc = fwd.dst_desc(), p.plain_out = py;
      break;
    case Pass::backward_data: {
      const dnnl::convolution_backward_data::primitive_desc pd(
          {algo, x, w, y, stride, pad, pad}, attr, engine(), fwd);
      p.prim = dnnl::convolution_backward_data(pd);
      p.scratch = pd.scratchpad_desc();
      p.in_arg[0] = DNNL_ARG_DIFF_DST, p.in_desc[0] = pd.diff_dst_desc(), p.plain_in[0] = py;
      p.in_arg[1] = DNNL_ARG_WEIGHTS, p.in_desc[1] = pd.weights_desc(), p.plain_in[1] = pw;
      p.out_arg = DNNL_ARG_DIFF_SRC, p.out_desc = pd.diff_src_desc(), p.plain_out = px;
      break;
    }
    case Pass::backward_weight: {
      const dnnl::convolution_backward_weights::primitive_desc pd(
          {algo, x, w, y, stride, pad, pad}, attr, engine(), fwd);
      p.prim = dnnl::convolution_backward_weights(pd);
      p.scratch = pd.scratchpad_desc();
      p.in_arg[0] = DNNL_ARG_SRC, p.in_desc[0] = pd.src_desc(), p.plain_in[0] = px;
      p.in_arg[1] = DNNL_ARG_DIFF_DST, p.in_desc[1] = pd.diff_dst_desc(), p.plain_in[1] = py;
      p.out_arg = DNNL_ARG_DIFF_WEIGHTS, p.out_desc = pd.diff_weights_desc(), p.plain_out = pw;
      break;
    }
  }
  for (int i = 0; i < 2; ++i) p.to_in[i] = reorder_between(p.plain_in[i], p.in_desc[i]);
  p.from_out = reorder_between(p.out_desc, p.plain_out);
  return p;
}

// Plans by pass and shape. MutualNet's widths and resolutions make a few hundred shapes per
// network; past kMaxPlans (a sweep over many widths) the cache starts again rather than grow.
constexpr size_t kMaxPlans = 4096;

const Plan& plan(Pass pass, const Shape& x, const Shape& w, const Shape& y, const Conv2dArgs& a) {
  using Key = std::array<int64_t, 16>;
  static std::map<Key, Plan> plans;
  static std::mutex mu;
  const Key key{static_cast<int64_t>(pass), x[0], x[1], x[2], x[3], w[0], w[1], w[2], w[3],
                a.stride_h, a.stride_w, a.pad_h, a.pad_w, omp_get_max_threads(), bf16_on, nhwc_on};
  std::lock_guard lock(mu);
  if (auto it = plans.find(key); it != plans.end()) return it->second;
  if (plans.size() >= kMaxPlans) plans.clear();
  return plans.emplace(key, make_plan(pass, x, w, y, a, bf16_on, nhwc_on)).first->second;
}

// Room for a tensor in layout `d`, from mn's caching allocator (oneDNN's own would page-fault a
// fresh buffer per call).
Tensor buffer_for(const memory::desc& d) {
  return Tensor::empty({static_cast<int64_t>((d.get_size() + 3) / 4)}, DType::f32);
}

// Runs plan `p` reading in[0], in[1] and writing out (all in mn's plain layouts, except in[ready]
// when ready is 0 or 1: already in the plan's layout), through buffer_for()s where a reorder is
// needed.
void run(const Plan& p, const void* in0, const void* in1, float* out, int ready = -1) {
  dnnl::stream s(engine());
  std::vector<Tensor> keep;
  auto buffer = [&](const memory::desc& d) {
    keep.push_back(buffer_for(d));
    return memory(d, engine(), keep.back().data_ptr());
  };
  std::unordered_map<int, memory> args;
  if (p.scratch.get_size() > 0) args[DNNL_ARG_SCRATCHPAD] = buffer(p.scratch);
  const void* in[2] = {in0, in1};
  for (int i = 0; i < 2; ++i) {
    if (!p.to_in[i] || i == ready) {
      args[p.in_arg[i]] = memory(p.in_desc[i], engine(), const_cast<void*>(in[i]));
      continue;
    }
    memory from(p.plain_in[i], engine(), const_cast<void*>(in[i]));
    memory to = buffer(p.in_desc[i]);
    p.to_in[i]->execute(s, from, to);
    args[p.in_arg[i]] = to;
  }
  if (!p.from_out) {
    args[p.out_arg] = memory(p.out_desc, engine(), out);
    p.prim.execute(s, args);
  } else {
    memory result = buffer(p.out_desc);
    args[p.out_arg] = result;
    p.prim.execute(s, args);
    memory plain(p.plain_out, engine(), out);
    p.from_out->execute(s, result, plain);
  }
  s.wait();
}

// Bytes between consecutive images of `batch` (an activation in a oneDNN layout) when a call over
// fewer images expecting `part` can read a run of them in place: the same blocking with the image
// dimension outermost and dense. 0 when it cannot.
int64_t image_bytes(const memory::desc& batch, const memory::desc& part) {
  const dnnl_memory_desc_t &b = batch.data, &p = part.data;
  if (b.format_kind != dnnl_blocked || p.format_kind != dnnl_blocked ||
      b.data_type != p.data_type || b.offset0 != 0 || p.offset0 != 0)
    return 0;
  const auto &bb = b.format_desc.blocking, &pb = p.format_desc.blocking;
  if (bb.inner_nblks != pb.inner_nblks) return 0;
  for (int i = 0; i < bb.inner_nblks; ++i)
    if (bb.inner_blks[i] != pb.inner_blks[i] || bb.inner_idxs[i] != pb.inner_idxs[i] ||
        bb.inner_idxs[i] == 0)
      return 0;
  int64_t per_image = 1;
  for (int d = 1; d < 4; ++d) {
    if (b.padded_dims[d] != p.padded_dims[d] || bb.strides[d] != pb.strides[d]) return 0;
    per_image *= b.padded_dims[d];
  }
  if (bb.strides[0] != per_image || (p.dims[0] > 1 && pb.strides[0] != per_image)) return 0;
  return per_image * static_cast<int64_t>(dnnl::memory::data_type_size(batch.data_type()));
}

// The weight in the plan's plain layout: a width slice W[:o, :i] of an OIHW weight has rows
// stride(0) apart; channels-last weights come dense (KRSC) already.
Tensor plain_weight(const Tensor& w) {
  return w.contiguous(nhwc_on ? MemoryFormat::channels_last : MemoryFormat::contiguous);
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

// Output pixels per weight-gradient call (one 28x28 image). One oneDNN call sums its N*Ho*Wo
// products per weight in float32 chains that long: over a 128-image batch at 28x28 that is 10x
// the float64 distance of mn's GEMM path (3.8e-6 against 3.8e-7), and the default run trained
// 0.3-0.6 points worse with it. Calls of about kChainPixels output pixels, whose partial
// gradients are then added in a pairwise tree, keep every chain short (5.0e-7).
constexpr int64_t kChainPixels = 784;

// parts[0] <- the sum of parts[0..n), added pairwise (1+2, 3+4, ..., then pairs of pairs): the
// rounding grows with log2(n) rather than n, and the order is fixed, so the bits are too.
void tree_sum(std::vector<float*>& parts, int64_t size) {
  for (size_t step = 1; step < parts.size(); step *= 2)
    for (size_t i = 0; i + step < parts.size(); i += 2 * step)
      for (int64_t k = 0; k < size; ++k) parts[i][k] += parts[i + step][k];
}

// dy already in a oneDNN layout (backward() shares the one it made for the input gradient).
struct BlockedDy {
  Tensor data;
  memory::desc layout;
};

// The weight gradient, one call per kChainPixels output pixels (see above); each call reads its
// images of dy from `blocked` in place where its layout allows, else reorders them from dy.
void weight_gradient(const Tensor& x, const Tensor& dy, const std::optional<BlockedDy>& blocked,
                     const Tensor& dw, const Conv2dArgs& a, bool accumulate) {
  const int64_t N = x.size(0), O = dw.size(0), K = dw.numel() / O;
  const int64_t calls = std::clamp<int64_t>(N * dy.size(2) * dy.size(3) / kChainPixels, 1, N);
  const Tensor parts = Tensor::empty({calls, O, K}, DType::f32);
  std::vector<float*> part(calls);
  std::exception_ptr error;
  // The calls are spread over the threads, each run single-threaded: one oneDNN call of a few
  // images is too short to pay for waking the other thread (OMP_WAIT_POLICY=passive) for each of
  // its parallel regions. Which images a call sums does not depend on the thread count, so
  // neither do the bits.
#pragma omp parallel num_threads(static_cast<int>(std::min<int64_t>(calls, omp_get_max_threads())))
  {
    omp_set_num_threads(1);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < calls; ++c) {
      // An even split: the calls differ by at most one image, so two plans at most.
      const int64_t n0 = N * c / calls, count = N * (c + 1) / calls - n0;
      Shape xs = x.shape(), ys = dy.shape();
      xs[0] = ys[0] = count;
      part[c] = parts.data<float>() + c * O * K;
      try {
        guarded("backward-weight", x.shape(), dw.shape(), [&] {
          const Plan& p = plan(Pass::backward_weight, xs, dw.shape(), ys, a);
          const int64_t stride = blocked ? image_bytes(blocked->layout, p.in_desc[1]) : 0;
          if (stride > 0)
            run(p, x.data<float>() + n0 * x.stride(0),
                static_cast<const char*>(blocked->data.data_ptr()) + n0 * stride, part[c], 1);
          else
            run(p, x.data<float>() + n0 * x.stride(0), dy.data<float>() + n0 * dy.stride(0), part[c]);
        });
      } catch (...) {
#pragma omp critical(mn_dnnl_error)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
  tree_sum(part, O * K);
  float* out = dw.data<float>();
  for (int64_t o = 0; o < O; ++o)
    for (int64_t k = 0; k < K; ++k)
      out[o * dw.stride(0) + k] = (accumulate ? out[o * dw.stride(0) + k] : 0.f) + part[0][o * K + k];
}

}  // namespace

bool bf16_supported() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

void set_bf16(bool on) { bf16_on = on; }
void set_nhwc(bool on) { nhwc_on = on; }

bool applies(Pass pass, const Shape& x, const Shape& w, DType dtype, const Conv2dArgs& a) {
  if (dtype != DType::f32 || a.dil_h != 1 || a.dil_w != 1) return false;
  if (nhwc_on) return true;  // grouped (depthwise) convs too
  if (a.groups != 1) return false;
  if (bf16_on) return true;
  if (w[2] != 3 || w[3] != 3) return false;
  const bool image_conv = x[1] == 1 && pass != Pass::backward_data;
  return image_conv || (x[1] >= 16 && w[0] >= 16);
}

void forward(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dArgs& a) {
  guarded("forward", x.shape(), w.shape(), [&] {
    const Tensor wp = plain_weight(w);
    run(plan(Pass::forward, x.shape(), w.shape(), y.shape(), a), x.data<float>(), wp.data<float>(),
        y.data<float>());
  });
}

void backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const Conv2dArgs& a) {
  guarded("backward-data", dx.shape(), w.shape(), [&] {
    const Tensor wp = plain_weight(w);
    run(plan(Pass::backward_data, dx.shape(), w.shape(), dy.shape(), a), dy.data<float>(),
        wp.data<float>(), dx.data<float>());
  });
}

void backward_weight(const Tensor& x, const Tensor& dy, const Tensor& dw, const Conv2dArgs& a,
                     bool accumulate) {
  weight_gradient(x, dy, {}, dw, a, accumulate);
}

void backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& dx,
              const Tensor& dw, const Conv2dArgs& a) {
  guarded("backward-data", dx.shape(), w.shape(), [&] {
    const Plan& p = plan(Pass::backward_data, dx.shape(), w.shape(), dy.shape(), a);
    if (!p.to_in[0]) {  // dy is read in mn's layout anyway: nothing to share
      backward_data(dy, w, dx, a);
      weight_gradient(x, dy, {}, dw, a, false);
      return;
    }
    const memory::desc& layout = p.in_desc[0];
    const Tensor blocked = buffer_for(layout);
    dnnl::stream s(engine());
    memory from(p.plain_in[0], engine(), dy.data<float>()), to(layout, engine(), blocked.data_ptr());
    p.to_in[0]->execute(s, from, to);
    s.wait();
    const Tensor wp = plain_weight(w);
    run(p, blocked.data_ptr(), wp.data<float>(), dx.data<float>(), 0);
    weight_gradient(x, dy, BlockedDy{blocked, layout}, dw, a, false);
  });
}

}  // namespace mn::dnnl_conv
#endif
