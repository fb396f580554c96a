// safetensors reading (io/safetensors.h load_safetensors): the input is the whole file.
#include "io/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = mn::fuzz::write_scratch("input.safetensors", mn::fuzz::as_text(data, size));
  mn::fuzz::run_allowing_errors([&] { mn::load_safetensors(path); });
  return 0;
}
