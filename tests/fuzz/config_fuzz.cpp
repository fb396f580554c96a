// The TOML config loader (mutualnet/config.h parse_config): the input is the config text, then
// after each NUL byte one `--set key=value` override.
#include <string>
#include <vector>

#include "mutualnet/config.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(mn::fuzz::as_text(data, size));
  const size_t end = std::min(input.find('\0'), input.size());
  std::vector<std::string> overrides;
  for (size_t begin = end; begin < input.size();) {
    const size_t next = std::min(input.find('\0', begin + 1), input.size());
    overrides.push_back(input.substr(begin + 1, next - begin - 1));
    begin = next;
  }
  mn::fuzz::run_allowing_errors([&] { mn::parse_config(input.substr(0, end), "input.toml", overrides); });
  return 0;
}
