// File helpers for run directories: crash-safe writes (temporary file + fsync + rename, so a
// reader sees the old file or the new one, never half of one) and whole-file reads.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace mn {

// Writes through `write(FILE*)` into `path.tmp`, syncs it and renames it over `path`.
void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write);
void write_file_atomic(const std::string& path, const std::string& contents);
// The whole file as text (std::string) or bytes (std::vector<uint8_t>); throws an mn::Error naming
// the path.
template <class Bytes = std::string>
Bytes read_file(const std::string& path);
void append_line(const std::string& path, const std::string& line);  // adds '\n', flushes
bool path_exists(const std::string& path);
void make_dirs(const std::string& path);  // like mkdir -p

// Size and CRC-32 (zlib's) of a file's bytes.
struct FileChecksum {
  uint64_t bytes = 0;
  uint32_t crc32 = 0;
};
FileChecksum file_checksum(const std::string& path);
std::string hex32(uint32_t x);  // 8 lowercase hex digits, as checksums are written

// An exclusive advisory lock (flock) on a file, created if missing, held until this is destroyed
// or the process ends in any way (kill -9 included: the kernel drops it with the descriptor).
// While held, the file holds the owner's pid, for the message of whoever finds it taken.
class FileLock {
 public:
  FileLock() = default;
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  // Takes the lock without waiting; false when another open file holds it. Throws naming the path
  // when the file cannot be opened.
  bool try_lock(const std::string& path);

 private:
  int fd_ = -1;
};

}  // namespace mn
