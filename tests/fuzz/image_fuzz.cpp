// Image decoding (data/decode.h): the header read, a full RGB decode and a gray decode at a DCT
// scale picked from the input's size, so that JPEGs of 64+ pixels also take the 1/8, 1/4 and 1/2
// scaled paths. The input is the whole file; every format (JPEG, PNG, BMP, GIF, PGM/PPM, TGA)
// goes through the same entry points.
#include <span>

#include "data/decode.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mn::data;
  const std::span<const uint8_t> bytes(data, size);
  constexpr double kMinScales[] = {0.1, 0.2, 0.4};  // decoded at 1/8, 1/4, 1/2
  mn::fuzz::run_allowing_errors([&] { read_image_header(bytes, "input"); });
  mn::fuzz::run_allowing_errors([&] { decode_image(bytes, 3, "input"); });
  mn::fuzz::run_allowing_errors([&] { decode_image(bytes, 1, "input", kMinScales[size % 3]); });
  return 0;
}
