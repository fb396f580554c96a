// safetensors: byte layout, round trip of every dtype, a file written by the Python
// `safetensors` package, and corrupt files named in errors.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>

#include "io/files.h"
#include "io/safetensors.h"
#include "tests/common/test_util.h"

using namespace mn;
namespace fs = std::filesystem;

using test::error_of;
using test::TempDir;

TEST_CASE("safetensors: layout is u64 header length, JSON header padded to 8, raw bytes") {
  const TempDir dir("mn_st_layout");
  Tensor a = Tensor::from_vector(std::vector<float>{1.5f, -2.0f, 3.25f}, {3});
  save_safetensors(dir.path + "/a.safetensors", {{"w", a}}, {{"format", "pt"}});
  std::string bytes = read_file(dir.path + "/a.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  CHECK(bytes.size() == 8 + n + 12);
  std::string header = bytes.substr(8, n);
  CHECK(header.rfind("{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[3],"
                     "\"data_offsets\":[0,12]}}", 0) == 0);
  float back[3];
  std::memcpy(back, bytes.data() + 8 + n, 12);
  CHECK(back[0] == 1.5f);
  CHECK(back[2] == 3.25f);
  CHECK_FALSE(fs::exists(dir.path + "/a.safetensors.tmp"));
}

TEST_CASE("safetensors: round trip of every dtype, views and empty tensors") {
  const TempDir dir("mn_st_roundtrip");
  Tensor f32 = Tensor::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
  Tensor view = f32.slice(1, 1, 3);  // (3, 2), strided: written contiguously
  Tensor f64 = Tensor::from_vector(std::vector<double>{3.141592653589793, -1e-300}, {2});
  Tensor i64 = Tensor::from_vector(std::vector<int64_t>{-5, 1LL << 40}, {1, 2});
  Tensor u8 = Tensor::from_vector(std::vector<uint8_t>{0, 255}, {2});
  Tensor scalar = Tensor::scalar(7, DType::i64);
  Tensor empty = Tensor::empty({0, 3});
  save_safetensors(dir.path + "/x.safetensors",
                   {{"f32", f32}, {"view", view}, {"f64", f64}, {"i64", i64}, {"u8", u8},
                    {"scalar", scalar}, {"empty", empty}},
                   {{"note", "round trip"}});
  SafetensorsFile f = load_safetensors(dir.path + "/x.safetensors");
  REQUIRE(f.tensors.size() == 7);
  CHECK(f.metadata.at("note") == "round trip");
  CHECK(f.tensors[0].first == "f32");  // file order is kept
  CHECK(f.at("f32").to_vector<float>() == f32.to_vector<float>());
  CHECK(f.at("view").shape() == Shape{3, 2});
  CHECK(f.at("view").to_vector<float>() == std::vector<float>{1, 2, 5, 6, 9, 10});
  CHECK(f.at("f64").to_vector<double>() == f64.to_vector<double>());
  CHECK(f.at("i64").shape() == Shape{1, 2});
  CHECK(f.at("i64").to_vector<int64_t>() == std::vector<int64_t>{-5, 1LL << 40});
  CHECK(f.at("u8").to_vector<uint8_t>() == std::vector<uint8_t>{0, 255});
  CHECK(f.at("scalar").shape() == Shape{});
  CHECK(f.at("scalar").item() == 7);
  CHECK(f.at("empty").shape() == Shape{0, 3});
  CHECK(error_of([&] { f.at("nope"); }) == dir.path + "/x.safetensors: no tensor named 'nope'");
}

TEST_CASE("safetensors: reads a file written by the Python safetensors package") {
  // Made by tests/io/make_safetensors_fixture.py.
  SafetensorsFile f =
      load_safetensors(MN_SOURCE_DIR "/tests/io/fixtures/python_written.safetensors");
  CHECK(f.metadata.at("format") == "pt");
  CHECK(f.metadata.at("note") == "fixture");
  CHECK(f.at("a.weight").shape() == Shape{2, 3});
  CHECK(f.at("a.weight").to_vector<float>() == std::vector<float>{-1, -0.5, 0, 0.5, 1, 1.5});
  CHECK(f.at("b.count").to_vector<int64_t>() == std::vector<int64_t>{1, -2, 3000000000LL});
  CHECK(f.at("c.f64").to_vector<double>()[0] == 3.141592653589793);
  CHECK(f.at("d.u8").to_vector<uint8_t>() == std::vector<uint8_t>{0, 1, 127, 255});
  CHECK(f.at("e.scalar").shape() == Shape{});
  CHECK(f.at("e.scalar").item() == 1.5);
}

TEST_CASE("safetensors: truncated and corrupt files are errors naming the file") {
  const TempDir dir("mn_st_corrupt");
  Tensor a = Tensor::zeros({4, 4});
  save_safetensors(dir.path + "/a.safetensors", {{"w", a}});
  std::string bytes = read_file(dir.path + "/a.safetensors");
  write_file_atomic(dir.path + "/short.safetensors", bytes.substr(0, bytes.size() - 4));
  CHECK(error_of([&] { load_safetensors(dir.path + "/short.safetensors"); }) ==
        dir.path + "/short.safetensors: tensor 'w': data_offsets [0, 64] outside the 60 data bytes");
  write_file_atomic(dir.path + "/tiny.safetensors", "abc");
  CHECK(error_of([&] { load_safetensors(dir.path + "/tiny.safetensors"); }) ==
        dir.path + "/tiny.safetensors: not a safetensors file (3 bytes)");
  write_file_atomic(dir.path + "/huge.safetensors", std::string("\xff\xff\0\0\0\0\0\0{}", 10));
  CHECK(error_of([&] { load_safetensors(dir.path + "/huge.safetensors"); }).find("exceeds the file size") !=
        std::string::npos);
  // (2^40)^3 floats is 2^122 bytes: the byte count used to wrap around to 0 and match the offsets.
  const std::string header =
      R"({"w":{"dtype":"F32","shape":[1099511627776,1099511627776,1099511627776],"data_offsets":[0,0]}})";
  write_file_atomic(dir.path + "/wrap.safetensors", std::string(1, char(header.size())) + std::string(7, '\0') + header);
  CHECK(error_of([&] { load_safetensors(dir.path + "/wrap.safetensors"); }) ==
        dir.path + "/wrap.safetensors: tensor 'w': shape (1099511627776, 1099511627776, 1099511627776) of float32 is too large to address");
  CHECK(error_of([&] { load_safetensors(dir.path + "/missing.safetensors"); })
            .rfind("cannot read " + dir.path + "/missing.safetensors", 0) == 0);
}
