// Internal to the CPU kernels: strided N-d iteration over several operands, dtype dispatch and
// the OpenMP threshold. Not part of the public API.
#pragma once
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace mn::cpu {

// Below this many elements a kernel runs on one thread: forking costs more than it saves.
constexpr int64_t kParallelGrain = 32768;

// Calls f(ptrs, n, inner_strides) for every innermost row of `shape`, where ptrs[k] points at
// operand k's first element of the row and inner_strides[k] is its element stride along the row.
// Dims are visited in the order of operand 0's strides (smallest innermost), so a channels-last
// tensor runs like a contiguous one, and dims that are contiguous for every operand are merged
// first, so dense data is one long row. Every element is visited once, in any order: elementwise
// results do not depend on it.
template <int K, class F>
void for_each_row(const Shape& shape, std::array<Shape, K> strides, std::array<char*, K> base,
                  std::array<size_t, K> elem_size, F&& f) {
  std::vector<int> order(shape.size());  // outermost first
  for (size_t d = 0; d < order.size(); ++d) order[d] = static_cast<int>(d);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return strides[0][a] > strides[0][b]; });
  // Coalesce (innermost first) into at most shape.size() dims.
  Shape dims;
  std::array<Shape, K> st;
  for (int i = static_cast<int>(order.size()) - 1; i >= 0; --i) {
    const int d = order[i];
    if (shape[d] == 1) continue;
    bool merge = !dims.empty();
    for (int k = 0; k < K && merge; ++k) merge = st[k].back() * dims.back() == strides[k][d];
    if (merge) {
      dims.back() *= shape[d];
    } else {
      dims.push_back(shape[d]);
      for (int k = 0; k < K; ++k) st[k].push_back(strides[k][d]);
    }
  }
  if (dims.empty()) {  // a single element
    dims.push_back(1);
    for (int k = 0; k < K; ++k) st[k].push_back(0);
  }
  for (int64_t d : shape)
    if (d == 0) return;
  const int64_t n = dims[0];
  int64_t rows = 1;
  for (size_t d = 1; d < dims.size(); ++d) rows *= dims[d];
  std::array<int64_t, K> inner;
  for (int k = 0; k < K; ++k) inner[k] = st[k][0];
  auto run = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      std::array<char*, K> p = base;
      int64_t rem = r;
      for (size_t d = 1; d < dims.size(); ++d) {
        int64_t i = rem % dims[d];
        rem /= dims[d];
        for (int k = 0; k < K; ++k) p[k] += i * st[k][d] * static_cast<int64_t>(elem_size[k]);
      }
      f(p, n, inner);
    }
  };
  if (rows * n < kParallelGrain) {
    run(0, rows);
    return;
  }
  if (rows == 1) {  // contiguous operands merge into one row: the threads split it
#pragma omp parallel
    {
      const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t j0 = n * t / nt, j1 = n * (t + 1) / nt;
      std::array<char*, K> p = base;
      for (int k = 0; k < K; ++k) p[k] += j0 * inner[k] * static_cast<int64_t>(elem_size[k]);
      f(p, j1 - j0, inner);
    }
    return;
  }
#pragma omp parallel
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    run(rows * t / nt, rows * (t + 1) / nt);
  }
}

// Calls f(T{}) with T the C++ type of dtype (float, double, int64_t, uint8_t).
template <class F>
void dispatch_all(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i64: return f(int64_t{});
    case DType::u8: return f(uint8_t{});
    default: fail(op, ": dtype ", dtype_name(dtype), " is not supported on the CPU");
  }
}

template <class F>
void dispatch_float(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: fail(op, ": expected float32 or float64, got ", dtype_name(dtype));
  }
}

}  // namespace mn::cpu
