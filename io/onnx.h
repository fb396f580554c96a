// ONNX: writes an nn::Graph as an ONNX model (a protobuf ModelProto, encoded here by hand: the
// handful of message fields below is all a model of standard operators needs), opset 13, float32
// NCHW input "input" with a free batch dimension, output "logits". onnxruntime, Netron and
// PyTorch's onnx tools read it.
//
//   write_onnx("out/model.onnx", graph, {{"mean", "0.286"}, {"std", "0.353"}});
#pragma once
#include <map>
#include <string>

#include "nn/graph.h"

namespace mn {

constexpr int kOnnxOpset = 13;

// The serialized ModelProto; `metadata` becomes metadata_props (key -> value strings).
std::string onnx_model(const nn::Graph& graph, const std::map<std::string, std::string>& metadata);
// Written atomically.
void write_onnx(const std::string& path, const nn::Graph& graph, const std::map<std::string, std::string>& metadata);

}  // namespace mn
