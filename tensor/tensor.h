// Tensor: a strided view (shape, strides, offset, dtype) over refcounted Storage on one device.
// No autograd here (that is autograd/Variable); views share storage, ops live in tensor/ops.h.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/error.h"

namespace mn {

using Shape = std::vector<int64_t>;

// How a 4-D (N, C, H, W) tensor lies in memory; its shape is (N, C, H, W) either way, as in
// PyTorch. contiguous: row-major NCHW. channels_last: NHWC, strides (H*W*C, 1, W*C, C), the
// layout cuDNN's tensor-core convolutions run in natively (Backend::memory_format).
enum class MemoryFormat { contiguous, channels_last };
const char* memory_format_name(MemoryFormat f);  // "nchw", "nhwc"

std::string shape_str(const Shape& s);  // "(128, 3, 32, 32)"
int64_t shape_numel(const Shape& s);

// Bytes on one device, freed through that device's backend when the last view goes away.
class Storage {
 public:
  // pinned: CPU memory page-locked by the CUDA backend (falls back to ordinary memory without it).
  Storage(size_t nbytes, Device device, bool pinned = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  // Pinned memory that an asynchronous copy to a device may still be reading (Backend::copy_in_flight).
  bool copy_in_flight() const;

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  bool pinned_ = false;
};

class Tensor {
 public:
  Tensor() = default;

  // Factories (CPU unless a device is given).
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu(),
                      MemoryFormat format = MemoryFormat::contiguous);  // channels_last: 4-D only
  // CPU tensor in page-locked memory when a GPU is present: the one place batch memory comes from,
  // so the CUDA backend can copy it asynchronously.
  static Tensor empty_pinned(const Shape& shape, DType dtype = DType::f32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = Device::cpu());
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  static Tensor scalar(double value, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor arange(int64_t n, DType dtype = DType::i64);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t size(int dim) const { return shape_[wrap_dim(dim)]; }
  int64_t stride(int dim) const { return strides_[wrap_dim(dim)]; }
  int dim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  bool is_contiguous() const;
  // Dense in that format (sizes of 1 may carry any stride, as for is_contiguous()).
  bool is_contiguous(MemoryFormat format) const;
  // channels_last for a dense channels-last tensor that is not also contiguous (C = 1 or
  // H = W = 1 lie the same in both, and count as contiguous): the layout an op's output follows.
  MemoryFormat memory_format() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  int wrap_dim(int dim) const;  // -1 -> last; throws if out of range

  // Pointer to the first element (storage base + offset). data<T>() checks the dtype.
  void* data_ptr() const;
  template <class T>
  T* data() const;

  // Host-side reads (copy to the CPU first when on a device).
  template <class T>
  std::vector<T> to_vector() const;
  double item() const;  // one-element tensor as double

  // Views: no copy, share storage.
  Tensor slice(int dim, int64_t start, int64_t end) const;  // [start, end) along dim
  Tensor view(const Shape& shape) const;                    // needs compatible strides
  Tensor reshape(const Shape& shape) const;                 // view if possible, else copy
  Tensor permute(const std::vector<int>& order) const;
  Tensor transpose(int a, int b) const;
  Tensor expand(const Shape& shape) const;  // broadcast size-1 dims with stride 0
  Tensor unsqueeze(int dim) const;
  Tensor squeeze(int dim) const;
  Tensor as_strided(const Shape& shape, const Shape& strides, int64_t offset) const;

  // Copies.
  Tensor contiguous() const;  // this if already contiguous
  Tensor contiguous(MemoryFormat format) const;  // this if already dense in that format
  Tensor clone() const;
  Tensor to(Device device) const;  // this if already there; explicit, synchronous transfer
  Tensor to(DType dtype) const;
  void copy_(const Tensor& src) const;  // src broadcast to this shape; dtype converted
  void fill_(double value) const;
  void zero_() const { fill_(0.0); }

  std::string str(int max_per_dim = 6) const;  // for debugging: shape, dtype, values

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_, strides_;
  int64_t offset_ = 0;  // in elements
  DType dtype_ = DType::f32;
};

Shape contiguous_strides(const Shape& shape);
Shape channels_last_strides(const Shape& shape);  // (N, C, H, W) -> (H*W*C, 1, W*C, C)
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace mn
