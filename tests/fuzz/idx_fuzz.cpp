// IDX datasets (data/dataset.h load_idx): the input is a labels file and an images file, split
// after the labels file whose length is the first byte (0-255: enough for small label files, and
// libFuzzer mutates it like any other byte). Either file may be gzip (zlib detects it). A dataset
// that loads has its first and last samples read, as training would.
#include "data/dataset.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mn::fuzz;
  if (size == 0) return 0;
  const size_t labels = std::min<size_t>(data[0], size - 1);
  write_scratch("train-labels-idx1-ubyte", as_text(data + 1, labels));
  write_scratch("train-images-idx3-ubyte", as_text(data + 1 + labels, size - 1 - labels));
  run_allowing_errors([] {
    const auto ds = mn::data::load_idx(scratch_dir(), mn::data::Split::train);
    ds->load(0);
    ds->load(ds->size() - 1);
  });
  return 0;
}
