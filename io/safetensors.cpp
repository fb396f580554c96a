// safetensors writer and reader. The writer pads the header with spaces to a multiple of 8 bytes
// (as the reference implementation does) so tensor data stays aligned when memory-mapped.
#include "io/safetensors.h"

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "io/files.h"
#include "io/json.h"

namespace mn {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian bytes; a big-endian host would need byte swaps");

namespace {

const char* safetensors_dtype(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
    case DType::bf16: return "BF16";
    case DType::f16: return "F16";
  }
  return "?";
}

DType parse_dtype(const std::string& s, const std::string& where) {
  for (DType t : {DType::f32, DType::f64, DType::i64, DType::u8, DType::bf16, DType::f16})
    if (s == safetensors_dtype(t)) return t;
  fail(where, ": unsupported dtype '", s, "' (mn reads F32, F64, I64, U8, BF16, F16)");
}

}  // namespace

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

const Tensor& SafetensorsFile::at(const std::string& name) const {
  const Tensor* t = find(name);
  MN_CHECK(t != nullptr, path, ": no tensor named '", name, "'");
  return *t;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<Tensor> host;  // contiguous CPU copies, in file order
  host.reserve(tensors.size());
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : metadata) meta.set(k, v);
    header.set("__metadata__", meta);
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    MN_CHECK(t.defined(), "save ", path, ": tensor '", name, "' is undefined");
    MN_CHECK(name != "__metadata__" && header.find(name) == nullptr, "save ", path,
             ": duplicate or reserved tensor name '", name, "'");
    Tensor h = t.to(Device::cpu()).contiguous();
    uint64_t nbytes = static_cast<uint64_t>(h.numel()) * dtype_size(h.dtype());
    Json shape = Json::array();
    for (int64_t d : h.shape()) shape.push(d);
    Json offsets = Json::array();
    offsets.push(offset);
    offsets.push(offset + nbytes);
    Json entry = Json::object();
    entry.set("dtype", safetensors_dtype(h.dtype()));
    entry.set("shape", shape);
    entry.set("data_offsets", offsets);
    header.set(name, entry);
    offset += nbytes;
    host.push_back(std::move(h));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t n = text.size();

  write_file_atomic(path, [&](std::FILE* f) {
    auto put = [&](const void* p, size_t k) {
      MN_CHECK(std::fwrite(p, 1, k, f) == k, "writing ", path, " failed: ", std::strerror(errno));
    };
    put(&n, 8);
    put(text.data(), text.size());
    for (const Tensor& h : host)
      if (h.numel() > 0) put(h.data_ptr(), static_cast<size_t>(h.numel()) * dtype_size(h.dtype()));
  });
}

SafetensorsFile load_safetensors(const std::string& path) {
  const std::string bytes = read_file(path);
  MN_CHECK(bytes.size() >= 8, path, ": not a safetensors file (", bytes.size(), " bytes)");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  MN_CHECK(n <= bytes.size() - 8, path, ": header length ", n, " exceeds the file size ",
           bytes.size(), " (truncated or not a safetensors file)");
  const Json header = Json::parse(bytes.substr(8, n), path + " header");
  const uint64_t data_start = 8 + n;
  const uint64_t data_size = bytes.size() - data_start;

  SafetensorsFile out;
  out.path = path;
  for (const auto& [name, entry] : header.members(path + " header")) {
    if (name == "__metadata__") {
      for (const auto& [k, v] : entry.members(path + " __metadata__"))
        out.metadata[k] = v.as_string(path + " __metadata__." + k);
      continue;
    }
    const std::string where = path + ": tensor '" + name + "'";
    DType dtype = parse_dtype(entry.at("dtype").as_string(where + " dtype"), where);
    Shape shape;
    for (const Json& d : entry.at("shape").items(where + " shape")) {
      int64_t v = d.as_int(where + " shape");
      MN_CHECK(v >= 0, where, ": negative dimension ", v);
      shape.push_back(v);
    }
    const auto& offs = entry.at("data_offsets").items(where + " data_offsets");
    MN_CHECK(offs.size() == 2, where, ": data_offsets must have two entries");
    int64_t begin = offs[0].as_int(where), end = offs[1].as_int(where);
    // A corrupt shape's product could overflow (undefined in shape_numel) or wrap around to the size.
    uint64_t expected = dtype_size(dtype);
    for (int64_t d : shape)
      MN_CHECK(!__builtin_mul_overflow(expected, static_cast<uint64_t>(d), &expected), where, ": shape ",
               shape_str(shape), " of ", dtype_name(dtype), " is too large to address");
    MN_CHECK(begin >= 0 && begin <= end && static_cast<uint64_t>(end) <= data_size, where,
             ": data_offsets [", begin, ", ", end, "] outside the ", data_size, " data bytes");
    MN_CHECK(static_cast<uint64_t>(end - begin) == expected, where, ": ", end - begin,
             " bytes for shape ", shape_str(shape), " of ", dtype_name(dtype), " (expected ",
             expected, ")");
    Tensor t = Tensor::empty(shape, dtype);
    if (expected > 0) std::memcpy(t.data_ptr(), bytes.data() + data_start + begin, expected);
    out.tensors.emplace_back(name, std::move(t));
  }
  return out;
}

}  // namespace mn
