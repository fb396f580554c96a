// MD5 as RFC 1321 specifies it: 64-byte blocks, four rounds of 16 operations.
#include "io/md5.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "tensor/error.h"

namespace mn {

namespace {

constexpr uint32_t kShift[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

uint32_t rotl(uint32_t x, uint32_t c) { return (x << c) | (x >> (32 - c)); }

}  // namespace

Md5::Md5() : state_{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476} {}

void Md5::block(const uint8_t* p) {
  static const auto k = [] {  // K[i] = floor(2^32 * |sin(i + 1)|)
    std::array<uint32_t, 64> t{};
    for (int i = 0; i < 64; ++i) t[size_t(i)] = uint32_t(std::floor(std::fabs(std::sin(double(i + 1))) * 4294967296.0));
    return t;
  }();
  uint32_t m[16];
  for (int i = 0; i < 16; ++i)
    m[i] = uint32_t(p[4 * i]) | uint32_t(p[4 * i + 1]) << 8 | uint32_t(p[4 * i + 2]) << 16 | uint32_t(p[4 * i + 3]) << 24;
  uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
  for (uint32_t i = 0; i < 64; ++i) {
    uint32_t f, g;
    if (i < 16) f = (b & c) | (~b & d), g = i;
    else if (i < 32) f = (d & b) | (~d & c), g = (5 * i + 1) % 16;
    else if (i < 48) f = b ^ c ^ d, g = (3 * i + 5) % 16;
    else f = c ^ (b | ~d), g = (7 * i) % 16;
    const uint32_t next = d;
    d = c;
    c = b;
    b = b + rotl(a + f + k[i] + m[g], kShift[i]);
    a = next;
  }
  state_[0] += a, state_[1] += b, state_[2] += c, state_[3] += d;
}

void Md5::update(const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  size_t used = size_t(length_ % 64);
  length_ += n;
  while (n > 0) {
    const size_t take = std::min(n, 64 - used);
    std::memcpy(buffer_ + used, p, take);
    used += take, p += take, n -= take;
    if (used == 64) block(buffer_), used = 0;
  }
}

std::string Md5::hex() {
  const uint64_t bits = length_ * 8;
  const uint8_t pad = 0x80, zero = 0;
  update(&pad, 1);
  while (length_ % 64 != 56) update(&zero, 1);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(bits >> (8 * i));
  update(len, 8);
  std::string out;
  char buf[3];
  for (uint32_t s : state_)
    for (int i = 0; i < 4; ++i) std::snprintf(buf, sizeof buf, "%02x", (s >> (8 * i)) & 0xff), out += buf;
  return out;
}

std::string md5_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  MN_CHECK(f, path, ": cannot open (", std::strerror(errno), ")");
  Md5 md5;
  std::vector<char> buf(1 << 20);
  for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0;) md5.update(buf.data(), n);
  MN_CHECK(!std::ferror(f.get()), path, ": read error");
  return md5.hex();
}

}  // namespace mn
