// A checkpoint's trainer.json (mutualnet/checkpoint.h): the JSON parser (io/json.h) and then the
// TrainerState fields, as load_checkpoint reads them. The input is the file's text.
#include "mutualnet/checkpoint.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mn::fuzz::run_allowing_errors([&] {
    const mn::Json j = mn::Json::parse(std::string(mn::fuzz::as_text(data, size)), "trainer.json");
    mn::TrainerState::from_json(j, "trainer.json");
  });
  return 0;
}
