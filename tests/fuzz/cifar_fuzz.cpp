// CIFAR binary records (data/dataset.h load_cifar): the input is read as a CIFAR-10 test batch and
// as a CIFAR-100 test file (records of 3073 and 3074 bytes, plain or gzip); a dataset that loads
// has its last sample read.
#include "data/dataset.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mn::fuzz;
  write_scratch("test_batch.bin", as_text(data, size));
  write_scratch("test.bin", as_text(data, size));
  for (int classes : {10, 100})
    run_allowing_errors([&] {
      const auto ds = mn::data::load_cifar(scratch_dir(), mn::data::Split::test, classes);
      ds->load(ds->size() - 1);
    });
  return 0;
}
