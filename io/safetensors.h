// The safetensors checkpoint format (the one PyTorch's `safetensors` package reads):
//   u64 little-endian N | N bytes of JSON header | raw tensor bytes, back to back.
// Header: {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..],
//          "data_offsets": [begin, end]}, ...}, offsets relative to the start of the data.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace mn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct SafetensorsFile {
  NamedTensors tensors;  // CPU, contiguous, in file order
  std::map<std::string, std::string> metadata;
  const Tensor& at(const std::string& name) const;  // throws naming the file and the tensor
  const Tensor* find(const std::string& name) const;
  std::string path;
};

// Tensors may live on any device (copied to the host to be written). Written atomically.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace mn
