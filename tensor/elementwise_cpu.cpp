// CPU elementwise kernels: copy (with dtype conversion), fill, unary and binary ops over any
// strides (broadcast operands arrive expanded with stride 0).
#include <algorithm>
#include <cmath>

#include "tensor/cpu_backend.h"
#include "tensor/cpu_loops.h"

namespace mn {

using cpu::for_each_row;

void CpuBackend::copy(const Tensor& dst, const Tensor& src) {
  cpu::dispatch_all(dst.dtype(), "copy", [&](auto d) {
    using D = decltype(d);
    cpu::dispatch_all(src.dtype(), "copy", [&](auto s) {
      using S = decltype(s);
      for_each_row<2>(dst.shape(), {dst.strides(), src.strides()},
                      {static_cast<char*>(dst.data_ptr()), static_cast<char*>(src.data_ptr())},
                      {sizeof(D), sizeof(S)}, [](auto p, int64_t n, auto st) {
                        D* o = reinterpret_cast<D*>(p[0]);
                        const S* i = reinterpret_cast<const S*>(p[1]);
                        for (int64_t j = 0; j < n; ++j) o[j * st[0]] = static_cast<D>(i[j * st[1]]);
                      });
    });
  });
}

void CpuBackend::fill(const Tensor& dst, double value) {
  cpu::dispatch_all(dst.dtype(), "fill", [&](auto d) {
    using D = decltype(d);
    const D v = static_cast<D>(value);
    for_each_row<1>(dst.shape(), {dst.strides()}, {static_cast<char*>(dst.data_ptr())},
                    {sizeof(D)}, [v](auto p, int64_t n, auto st) {
                      D* o = reinterpret_cast<D*>(p[0]);
                      for (int64_t j = 0; j < n; ++j) o[j * st[0]] = v;
                    });
  });
}

template <UnaryOp OP, class T>
static T apply_unary(T x, double a, double b) {
  if constexpr (OP == UnaryOp::neg) return -x;
  if constexpr (OP == UnaryOp::exp) return static_cast<T>(std::exp(x));
  if constexpr (OP == UnaryOp::log) return static_cast<T>(std::log(x));
  if constexpr (OP == UnaryOp::sqrt) return static_cast<T>(std::sqrt(x));
  if constexpr (OP == UnaryOp::abs) return x < 0 ? -x : x;
  // NaN passes through relu and relu6, as in PyTorch, so a diverging run still ends in a NaN loss.
  if constexpr (OP == UnaryOp::relu) return x < 0 ? T(0) : x;
  if constexpr (OP == UnaryOp::relu6) return x < 0 ? T(0) : (x > 6 ? T(6) : x);
  if constexpr (OP == UnaryOp::pow) return static_cast<T>(std::pow(x, a));
  if constexpr (OP == UnaryOp::clamp) return static_cast<T>(std::min(std::max<double>(x, a), b));
  if constexpr (OP == UnaryOp::affine) return static_cast<T>(a * x + b);
}

// The op is a template parameter so each contiguous row is one vectorisable loop.
template <UnaryOp OP, class T>
static void unary_kernel(const Tensor& out, const Tensor& in, double a, double b) {
  for_each_row<2>(out.shape(), {out.strides(), in.strides()},
                  {static_cast<char*>(out.data_ptr()), static_cast<char*>(in.data_ptr())},
                  {sizeof(T), sizeof(T)}, [a, b](auto p, int64_t n, auto st) {
                    T* o = reinterpret_cast<T*>(p[0]);
                    const T* x = reinterpret_cast<const T*>(p[1]);
                    if (st[0] == 1 && st[1] == 1) {
                      for (int64_t j = 0; j < n; ++j) o[j] = apply_unary<OP>(x[j], a, b);
                    } else {
                      for (int64_t j = 0; j < n; ++j) o[j * st[0]] = apply_unary<OP>(x[j * st[1]], a, b);
                    }
                  });
}

void CpuBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in, double a, double b) {
  cpu::dispatch_all(out.dtype(), "unary", [&](auto d) {
    using T = decltype(d);
    switch (op) {
#define MN_CASE(name) \
  case UnaryOp::name: return unary_kernel<UnaryOp::name, T>(out, in, a, b);
      MN_CASE(neg) MN_CASE(exp) MN_CASE(log) MN_CASE(sqrt) MN_CASE(abs) MN_CASE(relu)
      MN_CASE(relu6) MN_CASE(pow) MN_CASE(clamp) MN_CASE(affine)
#undef MN_CASE
    }
  });
}

// One op for a whole row, so the compiler vectorises the common contiguous case.
template <class T, BinaryOp OP>
static void binary_row(T* o, const T* x, const T* y, int64_t n, int64_t so, int64_t sx,
                       int64_t sy) {
  auto f = [](T a, T b) -> T {
    if constexpr (OP == BinaryOp::add) return a + b;
    if constexpr (OP == BinaryOp::sub) return a - b;
    if constexpr (OP == BinaryOp::mul) return a * b;
    if constexpr (OP == BinaryOp::div) return a / b;
    if constexpr (OP == BinaryOp::max) return a > b ? a : b;
    if constexpr (OP == BinaryOp::min) return a < b ? a : b;
    if constexpr (OP == BinaryOp::eq) return a == b;
    if constexpr (OP == BinaryOp::ne) return a != b;
    if constexpr (OP == BinaryOp::lt) return a < b;
    if constexpr (OP == BinaryOp::le) return a <= b;
    if constexpr (OP == BinaryOp::gt) return a > b;
    if constexpr (OP == BinaryOp::ge) return a >= b;
    if constexpr (OP == BinaryOp::relu_backward) return b > 0 ? a : T(0);
    if constexpr (OP == BinaryOp::relu6_backward) return (b > 0 && b < 6) ? a : T(0);
  };
  if (so == 1 && sx == 1 && sy == 1) {
    for (int64_t j = 0; j < n; ++j) o[j] = f(x[j], y[j]);
  } else if (so == 1 && sx == 1 && sy == 0) {
    const T c = y[0];
    for (int64_t j = 0; j < n; ++j) o[j] = f(x[j], c);
  } else {
    for (int64_t j = 0; j < n; ++j) o[j * so] = f(x[j * sx], y[j * sy]);
  }
}

template <class T, BinaryOp OP>
static void binary_kernel(const Tensor& out, const Tensor& a, const Tensor& b) {
  for_each_row<3>(out.shape(), {out.strides(), a.strides(), b.strides()},
                  {static_cast<char*>(out.data_ptr()), static_cast<char*>(a.data_ptr()),
                   static_cast<char*>(b.data_ptr())},
                  {sizeof(T), sizeof(T), sizeof(T)}, [](auto p, int64_t n, auto st) {
                    binary_row<T, OP>(reinterpret_cast<T*>(p[0]), reinterpret_cast<T*>(p[1]),
                                      reinterpret_cast<T*>(p[2]), n, st[0], st[1], st[2]);
                  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  cpu::dispatch_all(out.dtype(), "binary", [&](auto d) {
    using T = decltype(d);
    switch (op) {
#define MN_CASE(name) \
  case BinaryOp::name: return binary_kernel<T, BinaryOp::name>(out, a, b);
      MN_CASE(add) MN_CASE(sub) MN_CASE(mul) MN_CASE(div) MN_CASE(max) MN_CASE(min)
      MN_CASE(eq) MN_CASE(ne) MN_CASE(lt) MN_CASE(le) MN_CASE(gt) MN_CASE(ge)
      MN_CASE(relu_backward) MN_CASE(relu6_backward)
#undef MN_CASE
    }
  });
}

}  // namespace mn
