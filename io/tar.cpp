// tar.gz extraction: header fields at their ustar offsets (name 0, size 124 octal, type 156,
// prefix 345), data padded to 512 bytes, two zero blocks at the end.
#include "io/tar.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "tensor/error.h"

namespace mn {

namespace fs = std::filesystem;

namespace {

// A NUL-terminated (or full-width) header field.
std::string field(const char* p, size_t n) { return std::string(p, strnlen(p, n)); }

void read_exactly(gzFile f, char* out, size_t n, const std::string& archive) {
  while (n > 0) {
    const int got = gzread(f, out, unsigned(std::min<size_t>(n, 1u << 30)));
    if (got <= 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      fail(archive, ": truncated or corrupt archive (", got < 0 ? msg : "unexpected end of data", ")");
    }
    out += got, n -= size_t(got);
  }
}

}  // namespace

void extract_tar_gz(const std::string& archive, const std::string& dest) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(archive.c_str(), "rb"), gzclose);
  MN_CHECK(f, archive, ": cannot open");
  fs::create_directories(dest);
  char header[512];
  std::vector<char> data;
  while (true) {
    read_exactly(f.get(), header, 512, archive);
    if (std::all_of(header, header + 512, [](char c) { return c == 0; })) break;  // end of archive
    const std::string prefix = std::memcmp(header + 257, "ustar", 5) == 0 ? field(header + 345, 155) : "";
    const std::string name = prefix.empty() ? field(header, 100) : prefix + "/" + field(header, 100);
    const std::string size_text = field(header + 124, 12);
    size_t used = 0;
    const unsigned long long size = std::stoull(size_text.empty() ? "0" : size_text, &used, 8);
    const char type = header[156];
    const fs::path rel = fs::path(name).lexically_normal();
    MN_CHECK(!rel.is_absolute() && !rel.empty() && *rel.begin() != "..", archive, ": entry '", name,
             "' would land outside the destination");
    data.resize(size_t((size + 511) / 512 * 512));
    read_exactly(f.get(), data.data(), data.size(), archive);
    if (type == '5') {
      fs::create_directories(fs::path(dest) / rel);
    } else if (type == '0' || type == '\0') {
      const fs::path out = fs::path(dest) / rel;
      fs::create_directories(out.parent_path());
      std::ofstream o(out, std::ios::binary);
      o.write(data.data(), std::streamsize(size));
      MN_CHECK(o.good(), out.string(), ": write failed");
    }  // links, devices, pax headers: not in dataset archives, skipped
  }
}

}  // namespace mn
