// The caching allocator: bucket rounding, reuse of freed blocks, statistics, the idle-bytes limit
// and the retry after a failed raw allocation. A counting raw allocator stands in for malloc.
#include <doctest/doctest.h>

#include <cstdlib>

#include "tensor/caching_allocator.h"
#include "tensor/tensor.h"

namespace mn {
namespace {

int raw_allocs = 0, raw_frees = 0;
bool raw_fail_once = false;  // the next raw allocation fails (out of memory), then succeeds
void* counting_alloc(size_t n) {
  if (raw_fail_once) {
    raw_fail_once = false;
    return nullptr;
  }
  ++raw_allocs;
  return std::malloc(n);
}
void counting_free(void* p) {
  ++raw_frees;
  std::free(p);
}

}  // namespace

TEST_CASE("caching allocator: buckets are at most 12.5% above the request") {
  CHECK(CachingAllocator::bucket_size(1) == 512);
  CHECK(CachingAllocator::bucket_size(4096) == 4096);
  CHECK(CachingAllocator::bucket_size(4097) == 4096 + 512);
  CHECK(CachingAllocator::bucket_size(1 << 20) == 1 << 20);
  CHECK(CachingAllocator::bucket_size((1 << 20) + 1) == (1 << 20) + (1 << 17));
  for (size_t n = 1; n < (size_t(1) << 26); n = n * 3 + 7) {
    const size_t b = CachingAllocator::bucket_size(n);
    CHECK(b >= n);
    CHECK(b <= std::max<size_t>(512, n + n / 8 + 511));
  }
}

TEST_CASE("caching allocator: freed blocks are reused by their bucket, limits and stats hold") {
  raw_allocs = raw_frees = 0;
  CachingAllocator a({counting_alloc, counting_free}, 3 << 20);
  void* p = a.allocate(1 << 20);
  a.deallocate(p, 1 << 20);
  void* q = a.allocate((1 << 20) - 100);  // same bucket: the same block comes back
  CHECK(q == p);
  CHECK(raw_allocs == 1);
  MemoryStats s = a.stats();
  CHECK(s.allocated == (1 << 20));
  CHECK(s.reserved == (1 << 20));
  void* r = a.allocate(2 << 20);  // another bucket: a new block
  CHECK(raw_allocs == 2);
  CHECK(a.stats().peak == (3 << 20));
  a.deallocate(q, 1 << 20);
  a.deallocate(r, 2 << 20);  // 3 MiB idle: at the limit, still kept
  CHECK(raw_frees == 0);
  void* big = a.allocate(1 << 21);  // reuses r's bucket
  CHECK(big == r);
  void* more = a.allocate(1 << 21);
  a.deallocate(big, 1 << 21);
  a.deallocate(more, 1 << 21);  // 1 + 2 + 2 MiB idle would pass the limit: released at once
  CHECK(raw_frees == 1);
  CHECK(a.stats().allocated == 0);
  CHECK(a.stats().reserved == (3 << 20));

  raw_fail_once = true;  // out of memory: the idle blocks are handed back and the call retried
  void* after = a.allocate(5 << 20);
  REQUIRE(after != nullptr);
  CHECK(raw_frees == 3);
  CHECK(a.stats().reserved == CachingAllocator::bucket_size(5 << 20));
  a.deallocate(after, 5 << 20);
  a.empty_cache();
  CHECK(a.stats().reserved == 0);
  CHECK(raw_frees == 4);
}

TEST_CASE("caching allocator: a request takes the smallest idle block up to twice its size") {
  raw_allocs = raw_frees = 0;
  CachingAllocator a({counting_alloc, counting_free});
  void* m1 = a.allocate(1 << 20);
  void* m3 = a.allocate(3 << 20);
  a.deallocate(m1, 1 << 20);
  a.deallocate(m3, 3 << 20);
  void* p = a.allocate(600 << 10);  // 1 MiB is under twice 600 KiB: reused, counted at its size
  CHECK(p == m1);
  CHECK(a.stats().allocated == (1 << 20));
  void* q = a.allocate(1 << 20);  // the 3 MiB block is over twice 1 MiB: a new block
  CHECK(q != m3);
  CHECK(raw_allocs == 3);
  void* r = a.allocate(2 << 20);  // the smallest idle block that fits
  CHECK(r == m3);
  a.deallocate(p, 600 << 10);
  a.deallocate(q, 1 << 20);
  a.deallocate(r, 2 << 20);
  CHECK(a.stats().allocated == 0);
  CHECK(a.stats().reserved == (5 << 20));
  a.empty_cache();
  CHECK(raw_frees == 3);
}

TEST_CASE("cpu tensors count in the host allocator's statistics") {
  Backend& cpu = backend(Device::cpu());
  cpu.reset_peak_memory();
  const size_t before = cpu.memory_stats().allocated;
  {
    Tensor t = Tensor::empty({1000, 1000});
    CHECK(cpu.memory_stats().allocated == before + CachingAllocator::bucket_size(4000000));
  }
  CHECK(cpu.memory_stats().allocated == before);
  CHECK(cpu.memory_stats().peak >= before + 4000000);
}

}  // namespace mn
