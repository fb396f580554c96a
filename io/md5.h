// MD5 (RFC 1321), for the checksums that dataset publishers give (CIFAR, Fashion-MNIST): a check
// against corrupt or truncated downloads, not a security measure.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace mn {

class Md5 {
 public:
  Md5();
  void update(const void* data, size_t n);
  std::string hex();  // finishes: 32 lowercase hex digits

 private:
  void block(const uint8_t* p);
  uint32_t state_[4];
  uint64_t length_ = 0;  // bytes
  uint8_t buffer_[64];
};

std::string md5_file(const std::string& path);  // throws naming the path

}  // namespace mn
