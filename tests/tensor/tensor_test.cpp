// Tensor metadata, views (no copies), copies between layouts and dtypes, printing, randomness.
#include <doctest/doctest.h>

#include "tensor/ops.h"

using namespace mn;

static Tensor iota(const Shape& s) {
  std::vector<float> v(shape_numel(s));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return Tensor::from_vector(v, s);
}

TEST_CASE("slice is a view with the expected offset and strides") {
  Tensor w = iota({4, 6, 3, 3});
  Tensor s = w.slice(0, 0, 2).slice(1, 0, 5);
  CHECK(s.shape() == Shape{2, 5, 3, 3});
  CHECK(s.strides() == Shape{54, 9, 3, 1});
  CHECK(s.storage() == w.storage());
  CHECK_FALSE(s.is_contiguous());
  auto v = s.to_vector<float>();
  CHECK(v[0] == 0);
  CHECK(v[45] == 54);  // second output channel starts at 1 * 54 in the full weight
  s.fill_(-1);         // writes through to the full tensor
  CHECK(w.to_vector<float>()[54 + 44] == -1);
  CHECK(w.to_vector<float>()[45] == 45);  // input channel 5 untouched
}

TEST_CASE("view, reshape, permute, transpose, expand, unsqueeze, squeeze") {
  Tensor x = iota({2, 3, 4});
  CHECK(x.view({6, 4}).storage() == x.storage());
  CHECK(x.view({-1, 12}).shape() == Shape{2, 12});
  Tensor p = x.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.strides() == Shape{1, 12, 4});
  CHECK(p.contiguous().to_vector<float>()[1] == 4);  // p[0,0,1] = x[0,1,0]
  CHECK_THROWS_WITH_AS(p.view({24}), doctest::Contains("use reshape"), Error);
  Tensor r = p.reshape({24});
  CHECK(r.storage() != x.storage());
  CHECK(r.to_vector<float>()[13] == x.permute({2, 0, 1}).contiguous().to_vector<float>()[13]);
  CHECK(x.transpose(0, 2).shape() == Shape{4, 3, 2});
  Tensor b = Tensor::from_vector<float>({1, 2, 3}, {3}).unsqueeze(0).expand({4, 3});
  CHECK(b.strides() == Shape{0, 1});
  CHECK(b.to_vector<float>() == std::vector<float>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3});
  CHECK(b.slice(0, 0, 1).squeeze(0).shape() == Shape{3});
  CHECK(x.unsqueeze(-1).shape() == Shape{2, 3, 4, 1});
}

TEST_CASE("invalid views and shapes throw mn::Error naming the op and shapes") {
  Tensor x = iota({2, 3});
  CHECK_THROWS_WITH_AS(x.slice(1, 2, 5), "slice: [2, 5) out of range for dim 1 of shape (2, 3)", Error);
  CHECK_THROWS_WITH_AS(x.view({4, 2}), doctest::Contains("cannot view (2, 3)"), Error);
  CHECK_THROWS_WITH_AS(x.expand({2, 4}), "expand: cannot expand (2, 3) to (2, 4)", Error);
  CHECK_THROWS_WITH_AS(x.squeeze(0), doctest::Contains("is not 1"), Error);
  CHECK_THROWS_WITH_AS(x.permute({0, 0}), doctest::Contains("repeated"), Error);
  CHECK_THROWS_WITH_AS(x.size(2), doctest::Contains("dim 2 out of range"), Error);
  CHECK_THROWS_WITH_AS(x.data<double>(), "data<float64>: tensor is float32", Error);
  CHECK_THROWS_WITH_AS(x.item(), doctest::Contains("has 6 elements"), Error);
  CHECK_THROWS_WITH_AS(Device::parse("gpu"), doctest::Contains("unknown device 'gpu'"), Error);
}

TEST_CASE("copies convert dtypes and layouts") {
  Tensor x = iota({2, 3}).transpose(0, 1);  // (3, 2) strided
  Tensor d = x.to(DType::f64);
  CHECK(d.dtype() == DType::f64);
  CHECK(d.to_vector<double>() == std::vector<double>{0, 3, 1, 4, 2, 5});
  Tensor i = Tensor::from_vector<float>({-1.7f, 2.5f}, {2}).to(DType::i64);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{-1, 2});  // truncation, as a C cast
  Tensor u = Tensor::zeros({2, 3}, DType::u8);
  u.slice(1, 1, 2).copy_(Tensor::full({2, 1}, 7, DType::f32));
  CHECK(u.to_vector<uint8_t>() == std::vector<uint8_t>{0, 7, 0, 0, 7, 0});
  CHECK(Tensor::scalar(3.5).item() == 3.5);
}

TEST_CASE("printing shows shape, dtype and values") {
  std::string s = iota({2, 2}).str();
  CHECK(s.find("Tensor(2, 2) float32 cpu") == 0);
  CHECK(s.find("[[0, 1], [2, 3]]") != std::string::npos);
  CHECK(iota({20}).str(3).find("[0, 1, 2, ..., 19]") != std::string::npos);
}

TEST_CASE("random fills are deterministic per seed and have the right moments") {
  Generator a(1995), b(1995), c(7);
  Tensor x = Tensor::empty({10000}), y = Tensor::empty({10000}), z = Tensor::empty({10000});
  ops::normal_(x, 1.0, 2.0, a);
  ops::normal_(y, 1.0, 2.0, b);
  ops::normal_(z, 1.0, 2.0, c);
  CHECK(x.to_vector<float>() == y.to_vector<float>());
  CHECK(x.to_vector<float>() != z.to_vector<float>());
  CHECK(ops::mean(x, {0}).item() == doctest::Approx(1.0).epsilon(0.05));
  CHECK(std::sqrt(ops::var(x, {0}).item()) == doctest::Approx(2.0).epsilon(0.03));
  Tensor u = Tensor::empty({10000}, DType::f64);
  ops::uniform_(u, -1, 3, a);
  CHECK(ops::max(u, {0}).item() < 3);
  CHECK(-ops::max(ops::neg(u), {0}).item() >= -1);
  CHECK(ops::mean(u, {0}).item() == doctest::Approx(1.0).epsilon(0.03));
  std::string state = a.state();
  double first = a.uniform();
  a.set_state(state);
  CHECK(a.uniform() == first);
  for (int i = 0; i < 1000; ++i) {
    int64_t r = a.randint(2, 4);
    CHECK((r >= 2 && r <= 4));
  }
}

TEST_CASE("channels-last tensors keep (N, C, H, W) shapes with (H*W*C, 1, W*C, C) strides") {
  Tensor x = iota({2, 3, 4, 5});
  CHECK(channels_last_strides({2, 3, 4, 5}) == Shape{60, 1, 15, 3});
  Tensor c = x.contiguous(MemoryFormat::channels_last);
  CHECK(c.shape() == x.shape());
  CHECK(c.strides() == Shape{60, 1, 15, 3});
  CHECK(c.is_contiguous(MemoryFormat::channels_last));
  CHECK_FALSE(c.is_contiguous());
  CHECK(c.memory_format() == MemoryFormat::channels_last);
  CHECK(c.to_vector<float>() == x.to_vector<float>());  // the same values by logical index
  const float* p = c.data<float>();
  CHECK(p[1] == x.data<float>()[20]);  // (0, 1, 0, 0): channels are adjacent
  CHECK(p[3] == x.data<float>()[1]);   // (0, 0, 0, 1): the next pixel follows the last channel
  CHECK(c.contiguous(MemoryFormat::channels_last).data_ptr() == c.data_ptr());  // no copy
  CHECK(c.contiguous().is_contiguous());
  CHECK(c.to(DType::f64).memory_format() == MemoryFormat::channels_last);  // dtype copies keep it
  CHECK(x.memory_format() == MemoryFormat::contiguous);
  // One channel or 1x1 planes lie the same either way: both, and counted contiguous.
  Tensor one = Tensor::empty({2, 1, 4, 4}, DType::f32, Device::cpu(), MemoryFormat::channels_last);
  Tensor pooled = Tensor::empty({2, 8, 1, 1}, DType::f32, Device::cpu(), MemoryFormat::channels_last);
  for (const Tensor* t : {&one, &pooled}) {
    CHECK(t->is_contiguous());
    CHECK(t->is_contiguous(MemoryFormat::channels_last));
    CHECK(t->memory_format() == MemoryFormat::contiguous);
  }
  CHECK(pooled.view({2, 8}).is_contiguous());  // the classifier's flatten stays a view
  // Not dense, or not 4-D: not channels-last.
  CHECK_FALSE(c.slice(1, 0, 2).is_contiguous(MemoryFormat::channels_last));
  CHECK_FALSE(iota({3, 4}).is_contiguous(MemoryFormat::channels_last));
  CHECK_THROWS_AS(Tensor::empty({3, 4}, DType::f32, Device::cpu(), MemoryFormat::channels_last), Error);
}

TEST_CASE("the CPU computes channels-last inputs in NCHW: the same results, elementwise ops keep the layout") {
  Generator gen(7);
  Tensor x = Tensor::empty({4, 6, 9, 9});
  ops::normal_(x, 0, 1, gen);
  Tensor w = Tensor::empty({8, 6, 3, 3});
  ops::normal_(w, 0, 0.3, gen);
  const Tensor xc = x.contiguous(MemoryFormat::channels_last);
  Conv2dArgs args;
  args.pad_h = args.pad_w = 1;
  auto same = [](const Tensor& from_cl, const Tensor& from_nchw, const char* what) {
    INFO(what);
    CHECK(from_cl.to_vector<float>() == from_nchw.to_vector<float>());
  };
  Tensor y = ops::conv2d_forward(xc, w.contiguous(MemoryFormat::channels_last), args);
  CHECK(y.is_contiguous());
  same(y, ops::conv2d_forward(x, w, args), "conv2d");
  Tensor gamma = Tensor::ones({6}), beta = Tensor::zeros({6});
  Tensor rm = Tensor::zeros({6}), rv = Tensor::ones({6}), rm2 = rm.clone(), rv2 = rv.clone();
  same(ops::batchnorm_forward(xc, gamma, beta, rm, rv, true, 0.1, 1e-5, true).y,
       ops::batchnorm_forward(x, gamma, beta, rm2, rv2, true, 0.1, 1e-5, true).y, "batch norm + relu");
  const Pool2dArgs pool{3, 3, 2, 2, 1, 1};
  same(ops::maxpool2d_forward(xc, pool).y, ops::maxpool2d_forward(x, pool).y, "max pool");
  same(ops::avgpool2d_forward(xc, pool), ops::avgpool2d_forward(x, pool), "avg pool");
  same(ops::adaptive_avgpool2d_forward(xc, 1, 1), ops::adaptive_avgpool2d_forward(x, 1, 1), "global pool");
  same(ops::resize_bilinear_forward(xc, 5, 7, true), ops::resize_bilinear_forward(x, 5, 7, true), "resize");
  same(ops::pad2d_forward(xc, {1, 2, 3, 1}, PadMode::reflect), ops::pad2d_forward(x, {1, 2, 3, 1}, PadMode::reflect),
       "pad");
  Tensor r = ops::relu(xc), s = ops::add(xc, x);
  CHECK(r.is_contiguous(MemoryFormat::channels_last));
  CHECK(s.is_contiguous(MemoryFormat::channels_last));  // follows its first operand
  same(r, ops::relu(x), "relu");
  same(s, ops::add(x, x), "add");
}
