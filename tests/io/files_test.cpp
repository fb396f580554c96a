// File helpers: checksums, the run directory's lock, and errors from a full disk (/dev/full).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "io/files.h"
#include "tests/common/test_util.h"

using namespace mn;
using test::error_of;

TEST_CASE("file_checksum: size and zlib's CRC-32 of the bytes") {
  const test::TempDir dir("mn_files_crc");
  write_file_atomic(dir.file("check"), "123456789");  // the CRC-32 check value's input
  const FileChecksum sum = file_checksum(dir.file("check"));
  CHECK(sum.bytes == 9);
  CHECK(sum.crc32 == 0xcbf43926u);
  CHECK(hex32(sum.crc32) == "cbf43926");
  CHECK(hex32(0xabc) == "00000abc");
  write_file_atomic(dir.file("empty"), "");
  CHECK(file_checksum(dir.file("empty")).bytes == 0);
  CHECK(file_checksum(dir.file("empty")).crc32 == 0);
  CHECK(error_of([&] { file_checksum(dir.file("none")); }) ==
        "cannot read " + dir.file("none") + ": No such file or directory");
}

TEST_CASE("FileLock: one holder at a time, its pid in the file, released when it goes") {
  const test::TempDir dir("mn_files_lock");
  const std::string path = dir.file("lock");
  {
    FileLock first;
    REQUIRE(first.try_lock(path));
    CHECK(read_file(path) == std::to_string(getpid()) + "\n");
    FileLock second;  // another open file, as another process would have
    CHECK_FALSE(second.try_lock(path));
  }
  FileLock again;
  CHECK(again.try_lock(path));
  FileLock nowhere;
  CHECK(error_of([&] { nowhere.try_lock(dir.file("no/such/dir/lock")); }) ==
        "cannot open " + dir.file("no/such/dir/lock") + ": No such file or directory");
}

TEST_CASE("a full disk is an error naming the file, for appended lines too") {
  CHECK(error_of([] { append_line("/dev/full", "{\"kind\": \"train\"}"); }) ==
        "appending to /dev/full failed: No space left on device");
}
