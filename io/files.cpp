// Crash-safe file writes and plain reads (POSIX).
#include "io/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "tensor/error.h"

namespace mn {

namespace {

// Makes the rename itself durable: the directory entry is flushed too.
void sync_parent_dir(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: some filesystems refuse to open directories
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  MN_CHECK(f != nullptr, "cannot write ", tmp, ": ", std::strerror(errno));
  try {
    write(f);
  } catch (...) {
    std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  bool ok = std::fflush(f) == 0 && !std::ferror(f) && ::fsync(::fileno(f)) == 0;
  int err = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    fail("writing ", tmp, " failed: ", std::strerror(err));
  }
  MN_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename ", tmp, " to ", path,
           ": ", std::strerror(errno));
  sync_parent_dir(path);
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  write_file_atomic(path, [&](std::FILE* f) {
    MN_CHECK(std::fwrite(contents.data(), 1, contents.size(), f) == contents.size(),
             "writing ", path, " failed: ", std::strerror(errno));
  });
}

template <class Bytes>
Bytes read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  MN_CHECK(f != nullptr, "cannot read ", path, ": ", std::strerror(errno));
  Bytes out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  bool bad = std::ferror(f);
  std::fclose(f);
  MN_CHECK(!bad, "reading ", path, " failed");
  return out;
}
template std::string read_file<std::string>(const std::string&);
template std::vector<uint8_t> read_file<std::vector<uint8_t>>(const std::string&);

void append_line(const std::string& path, const std::string& line) {
  std::FILE* f = std::fopen(path.c_str(), "ab");
  MN_CHECK(f != nullptr, "cannot append to ", path, ": ", std::strerror(errno));
  std::fputs(line.c_str(), f);
  std::fputc('\n', f);
  std::fclose(f);
}

bool path_exists(const std::string& path) { return std::filesystem::exists(path); }

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  MN_CHECK(!ec, "cannot create directory ", path, ": ", ec.message());
}

}  // namespace mn
