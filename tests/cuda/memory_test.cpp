// CUDA memory: host <-> device round trips in every dtype, dtype conversions on the device, fill,
// the device pool's reuse and statistics, the out-of-memory error, pinned memory and the
// asynchronous batch copy.
#include <cstring>

#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

TEST_CASE("cuda: round trips and conversions keep every value") {
  if (!test::gpu_or_skip()) return;
  Tensor x = test::normal_tensor({3, 5, 7}, 1, DType::f32, 10.0);
  test::check_gpu_equal(x.to(gpu()), x, "float32 round trip");
  Tensor strided = x.to(gpu()).transpose(0, 2);
  test::check_gpu_equal(strided.contiguous(), x.transpose(0, 2).contiguous(), "transposed contiguous()");
  test::check_gpu_equal(x.to(gpu()).slice(1, 1, 4).contiguous(), x.slice(1, 1, 4).contiguous(), "slice");
  for (DType dt : {DType::f64, DType::i64, DType::u8}) {
    Tensor host = ops::clamp(x, 0, 200).to(dt);
    INFO(dtype_name(dt));
    test::check_gpu_equal(host.to(gpu()).to(DType::f32), host.to(DType::f32), "converted on the device");
    // Out-of-range float -> integer casts are undefined in C++; convert in-range values only.
    Tensor in_range = dt == DType::u8 ? ops::clamp(x, 0, 255) : x;
    test::check_gpu_equal(in_range.to(gpu()).to(dt), in_range.to(dt), "converted from float32 on the device");
  }
  // bf16 / f16 exist only on the GPU: a round trip through them keeps 8 / 11 significant bits.
  Tensor bf = x.to(gpu()).to(DType::bf16).to(DType::f32);
  test::check_gpu_close(bf, x, 1.0 / 128, 0, "through bfloat16");
  Tensor hf = x.to(gpu()).to(DType::f16).to(DType::f32);
  test::check_gpu_close(hf, x, 1.0 / 1024, 0, "through float16");
}

TEST_CASE("cuda: fill in every dtype, contiguous and strided") {
  if (!test::gpu_or_skip()) return;
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::u8, DType::bf16, DType::f16}) {
    INFO(dtype_name(dt));
    Tensor t = Tensor::full({4, 6}, 3.0, dt, gpu());
    auto v = t.to(DType::f64).to_vector<double>();
    CHECK(std::all_of(v.begin(), v.end(), [](double e) { return e == 3.0; }));
    t.slice(1, 2, 4).fill_(0.0);  // strided zero fill: not a memset
    v = t.to(DType::f64).to_vector<double>();
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 6; ++c) CHECK(v[r * 6 + c] == ((c == 2 || c == 3) ? 0.0 : 3.0));
  }
  Tensor s = Tensor::scalar(7.5, DType::f32, gpu());
  CHECK(s.item() == 7.5);
}

TEST_CASE("cuda: the device pool reuses freed memory across sizes and tracks peak bytes") {
  if (!test::gpu_or_skip()) return;
  Backend& be = backend(gpu());
  be.synchronize();
  const size_t base = be.memory_stats().allocated;
  be.reset_peak_memory();
  {
    Tensor a = Tensor::empty({1000, 1000}, DType::f32, gpu());
    CHECK(be.memory_stats().allocated == base + 4000000);
  }
  CHECK(be.memory_stats().allocated == base);
  const size_t reserved = be.memory_stats().reserved;
  {
    // Smaller and differently sized tensors, as a narrower sub-network asks for: served from the
    // memory the first one left, so the pool does not grow.
    Tensor b = Tensor::empty({700, 1000}, DType::f32, gpu());
    Tensor c = Tensor::empty({299, 1001}, DType::f32, gpu());
    CHECK(be.memory_stats().reserved == reserved);
  }
  const MemoryStats st = be.memory_stats();
  CHECK(st.peak == base + 4000000);
  CHECK(st.reserved >= st.peak);
  be.empty_cache();
  CHECK(be.memory_stats().reserved <= st.reserved);
  CHECK(be.memory_stats().reserved >= be.memory_stats().allocated);
  CHECK(!be.device_name().empty());
}

TEST_CASE("cuda: running out of memory is an mn::Error that says so") {
  if (!test::gpu_or_skip()) return;
  try {
    Tensor huge = Tensor::empty({int64_t{1} << 46}, DType::f32, gpu());  // 256 TiB
    FAIL("allocating 256 TiB succeeded");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find("out of memory") != std::string::npos);
  }
  Tensor ok = Tensor::ones({10}, DType::f32, gpu());  // the device still works afterwards
  CHECK(ops::sum_all(ok).item() == 10.0);
}

TEST_CASE("cuda: ops reject dtypes the GPU does not compute in, naming op and dtype") {
  if (!test::gpu_or_skip()) return;
  Tensor u = Tensor::ones({4}, DType::u8, gpu());
  try {
    ops::exp(u);
    FAIL("exp of uint8 on the GPU succeeded");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("unary") != std::string::npos);
    CHECK(msg.find("uint8") != std::string::npos);
  }
  Tensor d = Tensor::ones({1, 1, 3, 3}, DType::f64, gpu());
  CHECK_THROWS_WITH_AS(ops::conv2d_forward(d, d, {}), doctest::Contains("float64"), Error);
}

TEST_CASE("cuda: pinned batches copy asynchronously and arrive intact") {
  if (!test::gpu_or_skip()) return;
  Tensor expected = test::normal_tensor({64, 3, 32, 32}, 7);
  std::vector<Tensor> on_gpu;
  for (int step = 0; step < 4; ++step) {
    Tensor pinned = Tensor::empty_pinned({64, 3, 32, 32});
    std::memcpy(pinned.data_ptr(), expected.data_ptr(), expected.numel() * sizeof(float));
    // Kernels queued before and after the copy must see a consistent order.
    Tensor busy = ops::exp(Tensor::ones({1 << 20}, DType::f32, gpu()));
    on_gpu.push_back(to_device_async(pinned, gpu()));
    // `pinned` is freed here while its copy may still run: its block must not be reused early.
  }
  Tensor overwrite = Tensor::empty_pinned({64, 3, 32, 32});
  std::memset(overwrite.data_ptr(), 0, overwrite.numel() * sizeof(float));
  for (const Tensor& t : on_gpu) test::check_gpu_equal(t, expected, "async batch");
  Tensor labels = Tensor::empty_pinned({64}, DType::i64);
  for (int i = 0; i < 64; ++i) labels.data<int64_t>()[i] = i % 10;
  Tensor labels_gpu = to_device_async(labels, gpu());
  backend(gpu()).synchronize();
  CHECK(labels_gpu.to_vector<int64_t>() == labels.to_vector<int64_t>());
}
