// A minimal protobuf encoder for the ONNX messages a model of standard operators needs. Field
// numbers are those of onnx/onnx.proto (proto2: repeated scalars unpacked, one key per value).
#include "io/onnx.h"

#include <cstdint>
#include <cstring>

#include "io/files.h"

namespace mn {

namespace {

// One protobuf message being encoded: key = field << 3 | wire type (0 varint, 2 bytes, 5 fixed32).
class Message {
 public:
  Message& varint(int field, uint64_t v) {
    key(field, 0);
    put_varint(v);
    return *this;
  }
  Message& bytes(int field, const std::string& s) {
    key(field, 2);
    put_varint(s.size());
    out_ += s;
    return *this;
  }
  Message& message(int field, const Message& m) { return bytes(field, m.out_); }
  Message& float32(int field, float f) {
    key(field, 5);
    char b[4];
    std::memcpy(b, &f, 4);  // little-endian, as protobuf's fixed32 (x86 and ARM hosts)
    out_.append(b, 4);
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  void key(int field, int wire) { put_varint(uint64_t(field) << 3 | uint64_t(wire)); }
  void put_varint(uint64_t v) {
    for (; v >= 0x80; v >>= 7) out_ += char((v & 0x7f) | 0x80);
    out_ += char(v);
  }
  std::string out_;
};

constexpr int kFloat = 1;  // TensorProto.DataType FLOAT

// ValueInfoProto of a float tensor; dim 0 is the batch, named "N" so any batch size runs.
Message value_info(const std::string& name, const Shape& shape) {
  Message dims;
  for (size_t d = 0; d < shape.size(); ++d) {
    Message dim;
    if (d == 0) dim.bytes(2, "N");  // dim_param
    else dim.varint(1, uint64_t(shape[d]));  // dim_value
    dims.message(1, dim);
  }
  Message tensor_type;
  tensor_type.varint(1, kFloat).message(2, dims);  // elem_type, shape
  Message type;
  type.message(1, tensor_type);
  return Message().bytes(1, name).message(2, type);
}

Message tensor_proto(const std::string& name, const Tensor& t) {
  Message m;
  for (int64_t d : t.shape()) m.varint(1, uint64_t(d));  // dims
  m.varint(2, kFloat).bytes(8, name);                    // data_type, name
  const std::vector<float> values = t.to_vector<float>();
  return m.bytes(9, std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
}

Message attribute(const nn::GraphAttr& a) {
  using Kind = nn::GraphAttr::Kind;
  Message m;
  m.bytes(1, a.name);
  switch (a.kind) {  // AttributeProto.type: FLOAT 1, INT 2, INTS 7
    case Kind::number: m.float32(2, float(a.number)).varint(20, 1); break;
    case Kind::integer: m.varint(3, uint64_t(a.ints.at(0))).varint(20, 2); break;
    case Kind::integers:
      for (int64_t v : a.ints) m.varint(8, uint64_t(v));
      m.varint(20, 7);
      break;
  }
  return m;
}

}  // namespace

std::string onnx_model(const nn::Graph& g, const std::map<std::string, std::string>& metadata) {
  // The graph's values keep their recorded names, except the output, renamed "logits".
  auto rename = [&](const std::string& v) { return v == g.output ? std::string("logits") : v; };
  Message graph;
  for (const nn::GraphNode& n : g.nodes) {
    Message node;
    for (const std::string& in : n.inputs) node.bytes(1, rename(in));
    node.bytes(2, rename(n.output)).bytes(3, n.output).bytes(4, n.op);
    for (const nn::GraphAttr& a : n.attrs) node.message(5, attribute(a));
    graph.message(1, node);
  }
  graph.bytes(2, "mn");
  for (const auto& [name, t] : g.constants) graph.message(5, tensor_proto(name, t));
  graph.message(11, value_info(g.input, g.input_shape));
  graph.message(12, value_info("logits", g.output_shape));

  Message opset;
  opset.bytes(1, "").varint(2, kOnnxOpset);
  Message model;
  model.varint(1, 7).bytes(2, "mn").message(7, graph).message(8, opset);  // ir_version 7 goes with opset 13
  for (const auto& [k, v] : metadata) model.message(14, Message().bytes(1, k).bytes(2, v));
  return model.str();
}

void write_onnx(const std::string& path, const nn::Graph& graph, const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, onnx_model(graph, metadata));
}

}  // namespace mn
