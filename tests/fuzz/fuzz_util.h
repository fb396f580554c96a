// Shared by the libFuzzer targets (tests/fuzz/<name>_fuzz.cpp, built by `make fuzz`): a scratch
// directory for the loaders that read files, and the rule that a malformed input may fail only
// with an mn::Error. Anything else escaping (another exception, a sanitizer report, a timeout, an
// out-of-memory) is a finding for libFuzzer.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

#include "tensor/error.h"

namespace mn::fuzz {

// A directory unique to this process, removed at exit.
inline const std::string& scratch_dir() {
  static const struct Dir {
    std::string path = (std::filesystem::temp_directory_path() / cat("mn_fuzz_", ::getpid())).string();
    Dir() { std::filesystem::create_directories(path); }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } dir;
  return dir.path;
}

// Writes `bytes` to <scratch>/<name> (plain stdio: no fsync, the loaders only need the file) and
// returns the path.
inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  std::fclose(f);
  return path;
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs `f`, accepting an mn::Error (the clear message a malformed input deserves) as an outcome.
template <class F>
void run_allowing_errors(F f) {
  try {
    f();
  } catch (const Error&) {
  }
}

}  // namespace mn::fuzz
