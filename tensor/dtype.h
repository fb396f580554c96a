// Element types and devices: the two tags every Tensor carries.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace mn {

// bf16: the activations of CUDA's bf16 precision (tensor/backend.h Precision); copies convert it
// everywhere, CUDA's float kernels compute on it in float32. f16 is reserved.
enum class DType : uint8_t { f32, f64, i64, u8, bf16, f16 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
bool is_floating(DType t);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }

struct Device {
  enum class Kind : uint8_t { cpu, cuda };
  Kind kind = Kind::cpu;
  int index = 0;

  static Device cpu() { return {}; }
  static Device cuda(int index = 0) { return {Kind::cuda, index}; }
  bool is_cpu() const { return kind == Kind::cpu; }
  bool is_cuda() const { return kind == Kind::cuda; }
  bool operator==(const Device&) const = default;
  std::string str() const;
  static Device parse(const std::string& s);  // "cpu", "cuda", "cuda:1"
};

}  // namespace mn
