// mn::Error and the MN_CHECK macro: every user-facing failure in mn is an mn::Error whose message
// names the op or file and the offending values; the CLI prints it as one line.
#pragma once
#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

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

// Levenshtein distance, for the "did you mean" of messages about misspelt keys and options.
inline size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);  // distances from a[0, i) to every prefix of b
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({above + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace mn

#define MN_CHECK(cond, ...)            \
  do {                                 \
    if (!(cond)) ::mn::fail(__VA_ARGS__); \
  } while (0)
