// mn::Error and the MN_CHECK macro: every user-facing failure in mn is an mn::Error whose message
// names the op or file and the offending values; the CLI prints it as one line.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace mn {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Concatenates any streamable values: cat("conv2d: input has ", c, " channels").
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(cat(args...));
}

}  // namespace mn

#define MN_CHECK(cond, ...)            \
  do {                                 \
    if (!(cond)) ::mn::fail(__VA_ARGS__); \
  } while (0)
