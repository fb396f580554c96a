// File helpers for run directories: crash-safe writes (temporary file + fsync + rename, so a
// reader sees the old file or the new one, never half of one) and whole-file reads.
#pragma once
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

}  // namespace mn
