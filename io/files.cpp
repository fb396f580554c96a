// Crash-safe file writes and plain reads (POSIX).
#include "io/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

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
  // A full disk shows only here, so a lost line is an error, not a silent gap in the log.
  const bool ok = std::fputs(line.c_str(), f) >= 0 && std::fputc('\n', f) != EOF && std::fflush(f) == 0;
  const int err = errno;
  MN_CHECK((std::fclose(f) == 0) && ok, "appending to ", path, " failed: ", std::strerror(ok ? errno : err));
}

bool path_exists(const std::string& path) { return std::filesystem::exists(path); }

FileChecksum file_checksum(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  MN_CHECK(f != nullptr, "cannot read ", path, ": ", std::strerror(errno));
  FileChecksum sum;
  sum.crc32 = uint32_t(crc32_z(0, nullptr, 0));
  std::vector<unsigned char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    sum.crc32 = uint32_t(crc32_z(sum.crc32, buf.data(), n));
    sum.bytes += n;
  }
  const bool bad = std::ferror(f);
  std::fclose(f);
  MN_CHECK(!bad, "reading ", path, " failed");
  return sum;
}

std::string hex32(uint32_t x) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", x);
  return buf;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the lock
}

bool FileLock::try_lock(const std::string& path) {
  MN_CHECK(fd_ < 0, "FileLock: already holds a lock");
  // O_CLOEXEC: a child process (a test's `mn`) must not inherit, and so keep, the lock.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  MN_CHECK(fd >= 0, "cannot open ", path, ": ", std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return false;
    fail("cannot lock ", path, ": ", std::strerror(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  // The pid only informs the messages of others: the lock is held whether or not it is written.
  [[maybe_unused]] const bool written =
      ::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) == ssize_t(pid.size());
  fd_ = fd;
  return true;
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  MN_CHECK(!ec, "cannot create directory ", path, ": ", ec.message());
}

}  // namespace mn
