// MD5 against RFC 1321's test suite, across block boundaries and in pieces.
#include <doctest/doctest.h>

#include <string>

#include "tests/common/test_util.h"
#include "io/md5.h"

namespace mn {

namespace {

std::string md5_of(const std::string& s) {
  Md5 m;
  m.update(s.data(), s.size());
  return m.hex();
}

}  // namespace

TEST_CASE("md5: RFC 1321 test suite") {
  CHECK(md5_of("") == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(md5_of("abc") == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(md5_of("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
  CHECK(md5_of("abcdefghijklmnopqrstuvwxyz") == "c3fcd3d76192e4007dfb496cca67e13b");
  CHECK(md5_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == "d174ab98d277d9f5a5611c2c9f419d9f");
  const std::string eighty = "12345678901234567890123456789012345678901234567890123456789012345678901234567890";
  CHECK(md5_of(eighty) == "57edf4a22be3c955ac49da2e2107b67a");
  Md5 pieces;  // the same bytes fed unevenly
  for (size_t i = 0; i < eighty.size(); i += 7) pieces.update(eighty.data() + i, std::min<size_t>(7, eighty.size() - i));
  CHECK(pieces.hex() == "57edf4a22be3c955ac49da2e2107b67a");
}

TEST_CASE("md5: a file") {
  test::TempDir dir("mn_md5");
  write_file_atomic(dir.file("a"), std::string(100000, 'a'));
  CHECK(md5_file(dir.file("a")) == md5_of(std::string(100000, 'a')));
  CHECK(test::error_of([&] { md5_file(dir.file("missing")); }).starts_with(dir.file("missing") + ": cannot open"));
}

}  // namespace mn
