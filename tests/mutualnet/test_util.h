// Helpers the mutualnet tests share.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

#include "io/files.h"
#include "tensor/error.h"

namespace mn::test {

// A fresh directory under the system's temp folder, unique to this process; with create = false
// only its path (the code under test must create it).
inline std::string temp_dir(const char* name, bool create = true) {
  namespace fs = std::filesystem;
  std::string d = (fs::temp_directory_path() / cat(name, "_", ::getpid())).string();
  fs::remove_all(d);
  if (create) make_dirs(d);
  return d;
}

// The message of the mn::Error that `f` throws ("" when it does not throw).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace mn::test
