// Tensor, Storage, dtypes and devices: metadata, views, copies and printing.
#include "tensor/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <iomanip>
#include <numeric>

#include "tensor/backend.h"

namespace mn {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
    case DType::u8: return 1;
    case DType::bf16: return 2;
    case DType::f16: return 2;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
    case DType::u8: return "uint8";
    case DType::bf16: return "bfloat16";
    case DType::f16: return "float16";
  }
  return "?";
}

bool is_floating(DType t) { return t != DType::i64 && t != DType::u8; }

std::string Device::str() const { return is_cpu() ? "cpu" : cat("cuda:", index); }

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    try {
      return cuda(std::stoi(s.substr(5)));
    } catch (const std::exception&) {
    }
  }
  fail("unknown device '", s, "' (expected cpu, cuda or cuda:N)");
}

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

int64_t shape_numel(const Shape& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<>());
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(shape[i], 1);
  }
  return st;
}

Shape channels_last_strides(const Shape& shape) {
  MN_CHECK(shape.size() == 4, "channels_last: expected a 4-D (N, C, H, W) shape, got ", shape_str(shape));
  Shape st(4);
  int64_t acc = 1;
  for (int d : {1, 3, 2, 0}) {  // C innermost, then W, H, N
    st[d] = acc;
    acc *= std::max<int64_t>(shape[d], 1);
  }
  return st;
}

const char* memory_format_name(MemoryFormat f) {
  return f == MemoryFormat::channels_last ? "nhwc" : "nchw";
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    MN_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ",
             shape_str(b), " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// ---- Storage ----------------------------------------------------------------------------------

Storage::Storage(size_t nbytes, Device device, bool pinned)
    : nbytes_(nbytes), device_(device), pinned_(pinned && device.is_cpu() && cuda_available()) {
  if (nbytes_ == 0) return;
  data_ = pinned_ ? cuda_backend().allocate_pinned(nbytes_) : backend(device_).allocate(nbytes_);
}

Storage::~Storage() {
  if (!data_) return;
  if (pinned_)
    cuda_backend().deallocate_pinned(data_);
  else
    backend(device_).deallocate(data_, nbytes_);
}

bool Storage::copy_in_flight() const { return pinned_ && cuda_backend().copy_in_flight(data_); }

// ---- Factories --------------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, MemoryFormat format) {
  for (int64_t d : shape) MN_CHECK(d >= 0, "empty: negative dimension in shape ", shape_str(shape));
  Tensor t;
  t.strides_ = format == MemoryFormat::channels_last ? channels_last_strides(shape) : contiguous_strides(shape);
  t.storage_ = std::make_shared<Storage>(shape_numel(shape) * dtype_size(dtype), device);
  t.shape_ = shape;
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::empty_pinned(const Shape& shape, DType dtype) {
  Tensor t;
  t.storage_ = std::make_shared<Storage>(shape_numel(shape) * dtype_size(dtype), Device::cpu(), true);
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}
Tensor Tensor::scalar(double value, DType dtype, Device device) {
  return full({}, value, dtype, device);
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return from_vector(v, {n}).to(dtype);
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  MN_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ",
           values.size(), " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>());
  if (!values.empty()) std::memcpy(t.data_ptr(), values.data(), values.size() * sizeof(T));
  return t;
}
template Tensor Tensor::from_vector(const std::vector<float>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<double>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int64_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<uint8_t>&, const Shape&);

// ---- Metadata and access ----------------------------------------------------------------------

int Tensor::wrap_dim(int dim) const {
  int n = this->dim();
  int d = dim < 0 ? dim + n : dim;
  MN_CHECK(d >= 0 && d < n, "dim ", dim, " out of range for a tensor of shape ", shape_str(shape_));
  return d;
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int i = dim() - 1; i >= 0; --i) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

bool Tensor::is_contiguous(MemoryFormat format) const {
  if (format == MemoryFormat::contiguous) return is_contiguous();
  if (dim() != 4) return false;
  int64_t expected = 1;
  for (int d : {1, 3, 2, 0}) {
    if (shape_[d] == 1) continue;
    if (strides_[d] != expected) return false;
    expected *= shape_[d];
  }
  return true;
}

MemoryFormat Tensor::memory_format() const {
  return is_contiguous(MemoryFormat::channels_last) && !is_contiguous() ? MemoryFormat::channels_last
                                                                        : MemoryFormat::contiguous;
}

void* Tensor::data_ptr() const {
  MN_CHECK(defined(), "data_ptr: undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * dtype_size(dtype_);
}

template <class T>
T* Tensor::data() const {
  MN_CHECK(dtype_ == dtype_of<T>(), "data<", dtype_name(dtype_of<T>()), ">: tensor is ",
           dtype_name(dtype_));
  return static_cast<T*>(data_ptr());
}
template float* Tensor::data() const;
template double* Tensor::data() const;
template int64_t* Tensor::data() const;
template uint8_t* Tensor::data() const;

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(Device::cpu()).to(dtype_of<T>()).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector() const;
template std::vector<double> Tensor::to_vector() const;
template std::vector<int64_t> Tensor::to_vector() const;
template std::vector<uint8_t> Tensor::to_vector() const;

double Tensor::item() const {
  MN_CHECK(numel() == 1, "item: tensor of shape ", shape_str(shape_), " has ", numel(),
           " elements, expected 1");
  return to_vector<double>()[0];
}

// ---- Views ------------------------------------------------------------------------------------

Tensor Tensor::as_strided(const Shape& shape, const Shape& strides, int64_t offset) const {
  MN_CHECK(shape.size() == strides.size(), "as_strided: shape ", shape_str(shape), " and strides ",
           shape_str(strides), " differ in rank");
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = strides;
  t.offset_ = offset;
  return t;
}

Tensor Tensor::slice(int dim, int64_t start, int64_t end) const {
  int d = wrap_dim(dim);
  MN_CHECK(0 <= start && start <= end && end <= shape_[d], "slice: [", start, ", ", end,
           ") out of range for dim ", dim, " of shape ", shape_str(shape_));
  Tensor t = *this;
  t.shape_[d] = end - start;
  t.offset_ += start * strides_[d];
  return t;
}

static Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Shape& from) {
  Shape out = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      MN_CHECK(infer < 0, op, ": more than one -1 in ", shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      MN_CHECK(out[i] >= 0, op, ": invalid size in ", shape_str(shape));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    MN_CHECK(known > 0 && numel % known == 0, op, ": cannot view ", shape_str(from), " as ",
             shape_str(shape));
    out[infer] = numel / known;
  }
  MN_CHECK(shape_numel(out) == numel, op, ": cannot view ", shape_str(from), " (", numel,
           " elements) as ", shape_str(shape));
  return out;
}

// Strides for viewing this layout as `shape`, if possible without a copy (PyTorch's rule: each
// group of new dims must map onto a run of old dims that is contiguous with itself).
static bool view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape,
                         Shape& out) {
  out.assign(shape.size(), 0);
  if (shape_numel(old_shape) <= 1) {
    out = contiguous_strides(shape);
    return true;
  }
  int view_d = static_cast<int>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int d = static_cast<int>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

Tensor Tensor::view(const Shape& shape) const {
  Shape s = infer_shape(shape, numel(), "view", shape_);
  Shape st;
  MN_CHECK(view_strides(shape_, strides_, s, st), "view: the strides of ", shape_str(shape_),
           " do not allow viewing it as ", shape_str(s), "; use reshape (copies)");
  return as_strided(s, st, offset_);
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape s = infer_shape(shape, numel(), "reshape", shape_);
  Shape st;
  if (view_strides(shape_, strides_, s, st)) return as_strided(s, st, offset_);
  return contiguous().view(s);
}

Tensor Tensor::permute(const std::vector<int>& order) const {
  MN_CHECK(static_cast<int>(order.size()) == dim(), "permute: order of length ", order.size(),
           " for a tensor of shape ", shape_str(shape_));
  Shape s(order.size()), st(order.size());
  std::vector<bool> seen(order.size(), false);
  for (size_t i = 0; i < order.size(); ++i) {
    int d = wrap_dim(order[i]);
    MN_CHECK(!seen[d], "permute: dim ", order[i], " repeated");
    seen[d] = true;
    s[i] = shape_[d];
    st[i] = strides_[d];
  }
  return as_strided(s, st, offset_);
}

Tensor Tensor::transpose(int a, int b) const {
  std::vector<int> order(dim());
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[wrap_dim(a)], order[wrap_dim(b)]);
  return permute(order);
}

Tensor Tensor::expand(const Shape& shape) const {
  MN_CHECK(shape.size() >= shape_.size(), "expand: cannot expand ", shape_str(shape_), " to ",
           shape_str(shape));
  size_t lead = shape.size() - shape_.size();
  Shape s(shape.size()), st(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      MN_CHECK(shape[i] >= 0, "expand: new leading dims must be given, got ", shape_str(shape));
      s[i] = shape[i];
      continue;
    }
    int64_t have = shape_[i - lead];
    int64_t want = shape[i] == -1 ? have : shape[i];
    MN_CHECK(have == want || have == 1, "expand: cannot expand ", shape_str(shape_), " to ",
             shape_str(shape));
    s[i] = want;
    st[i] = have == want ? strides_[i - lead] : 0;
  }
  return as_strided(s, st, offset_);
}

Tensor Tensor::unsqueeze(int dim) const {
  int n = this->dim();
  int d = dim < 0 ? dim + n + 1 : dim;
  MN_CHECK(d >= 0 && d <= n, "unsqueeze: dim ", dim, " out of range for shape ", shape_str(shape_));
  Shape s = shape_, st = strides_;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, d < n ? strides_[d] * shape_[d] : 1);
  return as_strided(s, st, offset_);
}

Tensor Tensor::squeeze(int dim) const {
  int d = wrap_dim(dim);
  MN_CHECK(shape_[d] == 1, "squeeze: dim ", dim, " of shape ", shape_str(shape_), " is not 1");
  Shape s = shape_, st = strides_;
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return as_strided(s, st, offset_);
}

// ---- Copies -----------------------------------------------------------------------------------

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::contiguous(MemoryFormat format) const {
  if (is_contiguous(format)) return *this;
  Tensor t = empty(shape_, dtype_, device(), format);
  t.copy_(*this);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device());
  t.copy_(*this);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor src = contiguous();
  Tensor dst = empty(shape_, dtype_, device);
  Backend& b = backend(device.is_cpu() ? src.device() : device);
  b.copy_bytes(dst.data_ptr(), device, src.data_ptr(), src.device(), numel() * dtype_size(dtype_));
  return dst;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor t = empty(shape_, dtype, device(), memory_format());  // a channels-last tensor stays one
  t.copy_(*this);
  return t;
}

void Tensor::copy_(const Tensor& src) const {
  MN_CHECK(defined() && src.defined(), "copy_: undefined tensor");
  Tensor s = src.device() == device() ? src : src.to(device());
  backend(device()).copy(*this, s.expand(shape_));
}

void Tensor::fill_(double value) const { backend(device()).fill(*this, value); }

std::string Tensor::str(int max_per_dim) const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor" << shape_str(shape_) << " " << dtype_name(dtype_) << " " << device().str();
  std::vector<double> v = to_vector<double>();
  os << std::setprecision(5);
  std::function<void(int, int64_t)> rec = [&](int d, int64_t base) {
    if (d == dim()) {
      os << v[base];
      return;
    }
    int64_t inner = shape_numel(Shape(shape_.begin() + d + 1, shape_.end()));
    os << "[";
    for (int64_t i = 0; i < shape_[d]; ++i) {
      if (i == max_per_dim && shape_[d] > max_per_dim + 1) {
        os << ", ...";
        i = shape_[d] - 1;
      }
      if (i) os << ", ";
      rec(d + 1, base + i * inner);
    }
    os << "]";
  };
  os << "\n";
  rec(0, 0);
  return os.str();
}

}  // namespace mn
