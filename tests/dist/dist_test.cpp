// Data-parallel training on two CPU processes: CTest runs this binary under
// `mpirun -np 2 --oversubscribe` (one thread each). Every test skips, saying why, when mn has no
// MPI or runs as one process. On Debian's Fashion-MNIST, a few dozen images.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "autograd/functions.h"
#include "dist/communicator.h"
#include "io/safetensors.h"
#include "mutualnet/bn_calibration.h"
#include "mutualnet/config.h"
#include "mutualnet/experiment.h"
#include "mutualnet/trainer.h"
#include "tests/common/model_util.h"
#include "tests/common/test_util.h"

using namespace mn;

namespace {

const char* kTiny = R"(
device = "cpu"
seed = 1995
[model]
depth = 10
widen = 1
[data]
workers = 1
train_limit = 64
test_limit = 50
[train]
batch_size = 16
eval_batch_size = 16
bn_calib_batches = 3
validate = false
checkpoint_every = 0
)";

// True when this binary runs as exactly two MPI ranks; otherwise says why the test is skipped.
bool two_ranks() {
  if (!dist::mpi_built()) {
    MESSAGE("skipped: mn was built without MPI (apt-get install libopenmpi-dev openmpi-bin, reconfigure)");
    return false;
  }
  if (dist::world().size() != 2) {
    MESSAGE("skipped: run under mpirun -np 2 (ctest does), this is ", dist::world().describe());
    return false;
  }
  return true;
}

// Rank 0's copy of t, on every rank.
Tensor rank0_copy(const Tensor& t) {
  const Tensor c = t.contiguous().clone();
  dist::world().broadcast(c, 0);
  return c;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() && std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(),
                                               size_t(a.numel()) * dtype_size(a.dtype())) == 0;
}

// A folder that both ranks use: rank 0's temp folder, removed by rank 0 after both are done.
struct SharedDir {
  std::unique_ptr<test::TempDir> owned;
  std::string path;
  explicit SharedDir(const std::string& name) {
    if (dist::world().rank() == 0) owned = std::make_unique<test::TempDir>(name, false);
    Tensor bytes = Tensor::zeros({256}, DType::u8);
    if (owned) std::memcpy(bytes.data_ptr(), owned->path.c_str(), std::min<size_t>(owned->path.size(), 255));
    dist::world().broadcast(bytes, 0);
    path = static_cast<const char*>(bytes.data_ptr());
  }
  ~SharedDir() { dist::world().barrier(); }
};

std::vector<Tensor> grads_of(models::Model& model) {
  std::vector<Tensor> out;
  for (const Variable& p : model.net->parameters()) out.push_back(p.grad().clone());
  return out;
}

// The world's collectives, logged in the order issued: 's' a blocking sum, 'b' a started one.
struct LoggedWorld : dist::Communicator {
  std::string log;
  int rank() const override { return dist::world().rank(); }
  int size() const override { return dist::world().size(); }
  void all_reduce_sum(const Tensor& t) override {
    log += 's';
    dist::world().all_reduce_sum(t);
  }
  std::unique_ptr<dist::Pending> start_all_reduce_sum(const Tensor& t) override {
    log += 'b';
    return dist::world().start_all_reduce_sum(t);
  }
  void broadcast(const Tensor& t, int root) override { dist::world().broadcast(t, root); }
  double sum(double v) override { return dist::world().sum(v); }
  void barrier() override { dist::world().barrier(); }
  std::string describe() const override { return "logged " + dist::world().describe(); }
};

}  // namespace

TEST_CASE("dist: host sums and any() agree on every rank") {
  if (!two_ranks()) return;
  const int rank = dist::world().rank();
  // Exact for counts beyond float32's 2^24 (a batch's values per channel on 8 GPUs).
  CHECK(dist::world().sum(rank == 0 ? 16777217.0 : 2.0) == 16777219.0);
  CHECK(dist::world().any(rank == 1));  // Ctrl-C on one rank stops both
  CHECK(dist::world().any(rank == 0));
  CHECK_FALSE(dist::world().any(false));
}

TEST_CASE("dist: after training steps on two ranks every rank holds bitwise the same weights") {
  if (!two_ranks()) return;
  const Config c = parse_config(kTiny, "tiny.toml", {});
  Experiment ex(c, {.train_data = true, .optimizer = true});
  const std::vector<Tensor> initial = [&] {
    std::vector<Tensor> out;
    for (const Variable& p : ex.model.net->parameters()) out.push_back(p.data().clone());
    return out;
  }();
  ex.train_loader->start_epoch(0);
  int64_t steps = 0;
  while (std::optional<data::Batch> batch = ex.train_loader->next()) {
    CHECK(batch->size() == 8);  // half of the global batch of 16
    // The shards differ: rank 0's first image is not rank 1's.
    const Tensor first = Tensor::from_vector(std::vector<int64_t>{batch->indices[0]}, {1});
    CHECK(bitwise_equal(rank0_copy(first), first) == (dist::world().rank() == 0));
    const std::vector<Subnet> subnets = sample_subnets(ex.step_options, c.data.resolutions, ex.sampler);
    mutualnet_step(ex.model, *ex.optimizer, images_on(*batch, ex.device), c.data.resolutions, batch->labels,
                   subnets, ex.step_options, ex.schedule.lr_at(steps++), &ex.device_comm);
  }
  CHECK(steps == 4);
  const std::vector<Variable> params = ex.model.net->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    CHECK_FALSE(bitwise_equal(params[i].data(), initial[i]));
    CHECK(bitwise_equal(rank0_copy(params[i].data()), params[i].data()));
  }
}

TEST_CASE("dist: with per-rank batch norm the all-reduced gradient is the mean of the two shards' gradients") {
  if (!two_ranks()) return;
  const Config c = parse_config(kTiny, "tiny.toml", {"train.sync_bn=false"});
  const ExperimentParts parts{.train_data = true, .optimizer = true};
  auto step = [&](Experiment& ex, const data::Batch& batch, int64_t begin, int64_t end, dist::Communicator* comm) {
    std::vector<Tensor> images;
    for (const Tensor& t : images_on(batch, ex.device)) images.push_back(t.slice(0, begin, end));
    const std::vector<Subnet> subnets = sample_subnets(ex.step_options, c.data.resolutions, ex.sampler);
    mutualnet_step(ex.model, *ex.optimizer, images, c.data.resolutions, batch.labels.slice(0, begin, end), subnets,
                   ex.step_options, ex.schedule.lr_at(0), comm);
    return grads_of(ex.model);
  };
  Experiment ranks(c, parts);
  ranks.train_loader->start_epoch(0);
  const std::vector<Tensor> reduced = step(ranks, *ranks.train_loader->next(), 0, 8, &ranks.device_comm);

  // The same step in this process alone, on each half of the global batch.
  dist::SingleProcess one;
  std::vector<std::vector<Tensor>> halves;
  for (int64_t h = 0; h < 2; ++h) {
    Experiment ex(c, parts, one);
    ex.train_loader->start_epoch(0);
    const data::Batch batch = *ex.train_loader->next();
    REQUIRE(batch.size() == 16);
    halves.push_back(step(ex, batch, 8 * h, 8 * (h + 1), nullptr));
  }
  REQUIRE(reduced.size() == halves[0].size());
  for (size_t i = 0; i < reduced.size(); ++i) {
    const Tensor mean = ops::scale(ops::add(halves[0][i], halves[1][i]), 0.5);
    test::check_close(reduced[i], mean, 1e-6, 1e-9, cat("gradient ", i));
  }
}

TEST_CASE("dist: with synchronized batch norm two ranks compute the one-process gradient of the whole batch") {
  if (!two_ranks()) return;
  // In float64: in float32 the shards' convolutions round differently from the whole batch's, and
  // a ReLU input within rounding of zero flips its mask in one run only, moving the first layers'
  // gradients by 0.1-1% (seen with OpenBLAS's AVX-512 kernels); in float64 only a wrong
  // computation differs by more than rounding (measured: 8e-12 at worst; an off-by-one count in
  // the backward, 1e-3).
  const Config c = parse_config(kTiny, "tiny.toml", {});
  REQUIRE(c.train.sync_bn);
  const ExperimentParts parts{.train_data = true};
  auto step = [&](Experiment& ex, dist::Communicator* comm) {
    test::to_f64(ex.model);
    nn::Sgd optimizer({{ex.model.net->named_parameters(), 0.0}}, nn::SgdOptions{});
    ex.train_loader->start_epoch(0);
    const data::Batch batch = *ex.train_loader->next();
    std::vector<Tensor> images;
    for (const Tensor& t : images_on(batch, ex.device)) images.push_back(t.to(DType::f64));
    const std::vector<Subnet> subnets = sample_subnets(ex.step_options, c.data.resolutions, ex.sampler);
    mutualnet_step(ex.model, optimizer, images, c.data.resolutions, batch.labels, subnets, ex.step_options,
                   ex.schedule.lr_at(0), comm);
    return grads_of(ex.model);
  };
  Experiment ranks(c, parts);
  const std::vector<Tensor> reduced = step(ranks, &ranks.device_comm);
  dist::SingleProcess one;
  Experiment whole(c, parts, one);
  const std::vector<Tensor> expected = step(whole, nullptr);
  REQUIRE(reduced.size() == expected.size());
  for (size_t i = 0; i < reduced.size(); ++i) {
    REQUIRE(reduced[i].dtype() == DType::f64);
    test::check_close(reduced[i], expected[i], 1e-9, 1e-15, cat("gradient ", i));
  }
  // and the running statistics of the global batch, on both ranks
  const auto stats = ranks.model.net->named_buffers(), one_stats = whole.model.net->named_buffers();
  for (size_t i = 0; i < stats.size(); ++i)
    test::check_close(stats[i].second, one_stats[i].second, 1e-9, 1e-15, stats[i].first);
}

TEST_CASE("dist: synchronized batch norm over shards of different sizes is batch norm of the whole batch") {
  if (!two_ranks()) return;
  // 8 images, 3 on rank 0 and 5 on rank 1: the statistics weigh each rank by its count.
  const int rank = dist::world().rank();
  const int64_t begin = rank == 0 ? 0 : 3, end = rank == 0 ? 3 : 8;
  const ProcessGroup world{rank, 2, [](const Tensor& t) { dist::world().all_reduce_sum(t); },
                           [](double v) { return dist::world().sum(v); }};
  const Tensor x = test::uniform_tensor({8, 3, 4, 4}, 21, DType::f32, -2, 3),
               gamma = test::uniform_tensor({3}, 22), beta = test::uniform_tensor({3}, 23),
               dy = test::uniform_tensor({8, 3, 4, 4}, 24);
  const Tensor rm1 = test::uniform_tensor({3}, 25), rv1 = test::uniform_tensor({3}, 26, DType::f32, 0.5, 2);
  const Tensor rm2 = rm1.clone(), rv2 = rv1.clone();
  Variable xa(x, true), ga(gamma, true), ba(beta, true);
  Variable xb(x.slice(0, begin, end).contiguous(), true), gb(gamma, true), bb(beta, true);
  Variable whole = batch_norm(xa, ga, ba, rm1, rv1, true, 0.1, 1e-5);
  Variable shard = sync_batch_norm(xb, gb, bb, rm2, rv2, 0.1, 1e-5, false, world);
  test::check_close(shard.data(), whole.data().slice(0, begin, end), 1e-5, 1e-6, "y");
  test::check_close(rm2, rm1, 1e-5, 1e-6, "running mean");
  test::check_close(rv2, rv1, 1e-5, 1e-6, "running var");  // unbiased: over the 128 values per channel
  whole.backward(dy);
  shard.backward(dy.slice(0, begin, end).contiguous());
  test::check_close(xb.grad(), xa.grad().slice(0, begin, end), 1e-5, 1e-6, "dx");
  // Each rank's parameter gradients are its shard's; their sum is the whole batch's.
  const Tensor dgamma = gb.grad().clone(), dbeta = bb.grad().clone();
  dist::world().all_reduce_sum(dgamma);
  dist::world().all_reduce_sum(dbeta);
  test::check_close(dgamma, ga.grad(), 1e-5, 1e-6, "dgamma");
  test::check_close(dbeta, ba.grad(), 1e-5, 1e-6, "dbeta");
}

TEST_CASE("dist: gradients averaged during the last backward are bitwise those averaged after it") {
  if (!two_ranks()) return;
  const Config c = parse_config(kTiny, "tiny.toml", {});
  REQUIRE(c.train.sync_bn);  // its all-reduces in the backward interleave with the buckets'
  const ExperimentParts parts{.train_data = true, .optimizer = true};
  LoggedWorld logged;
  auto step = [&](bool overlapped) {
    Experiment ex(c, parts);
    for (nn::BatchNorm2d* bn : batch_norms(ex.model))
      bn->sync = ProcessGroup{logged.rank(), logged.size(), [&](const Tensor& t) { logged.all_reduce_sum(t); },
                              [&](double v) { return logged.sum(v); }};
    ex.train_loader->start_epoch(0);
    const data::Batch batch = *ex.train_loader->next();
    StepOptions o = ex.step_options;
    o.grad_bucket_bytes = 4096;  // many small buckets, most of them full before the backward ends
    const std::vector<Subnet> subnets = sample_subnets(o, c.data.resolutions, ex.sampler);
    mutualnet_step(ex.model, *ex.optimizer, images_on(batch, ex.device), c.data.resolutions, batch.labels, subnets,
                   o, ex.schedule.lr_at(0), overlapped ? &logged : nullptr);
    // The blocking path: every gradient after the backward (the optimizer step does not touch them).
    if (!overlapped) dist::GradAverager(logged, ex.model.net->parameters(), o.grad_bucket_bytes).finish();
    return grads_of(ex.model);
  };
  const std::vector<Tensor> after = step(false);
  const std::string after_log = std::exchange(logged.log, "");
  const std::vector<Tensor> during = step(true);
  // Both started the same buckets; after the backward's blocking sums in one case, among them in
  // the other (the first bucket right after the last layers' sums, before the first layers').
  const size_t buckets = size_t(std::count(after_log.begin(), after_log.end(), 'b'));
  CHECK(buckets > 5);
  CHECK(after_log.find_last_of('s') < after_log.find('b'));
  CHECK(std::count(logged.log.begin(), logged.log.end(), 'b') == buckets);
  CHECK(logged.log.find('b') < logged.log.find_last_of('s'));
  REQUIRE(during.size() == after.size());
  for (size_t i = 0; i < after.size(); ++i) {
    INFO("gradient ", i);
    CHECK(bitwise_equal(during[i], after[i]));
  }
}

TEST_CASE("dist: a gradient averager dropped before finish() waits for every sum it started") {
  // As after an error in the last backward: the sums may still be writing into the buckets.
  struct Counting : dist::SingleProcess {
    int started = 0, waited = 0;
    std::unique_ptr<dist::Pending> start_all_reduce_sum(const Tensor&) override {
      struct Waited : dist::Pending {
        int& count;
        explicit Waited(int& c) : count(c) {}
        void wait() override {
          if (++count == 1) fail("the first wait fails");  // dropped: the error being unwound matters
        }
      };
      ++started;
      return std::make_unique<Waited>(waited);
    }
  } comm;
  std::vector<Variable> params;
  for (int i = 0; i < 3; ++i) {
    params.emplace_back(Tensor::zeros({4}), true);
    params.back().set_grad(Tensor::ones({4}));
  }
  {
    dist::GradAverager avg(comm, params, 4 * sizeof(float));  // one gradient a bucket
    avg.on_done(*params[2].impl());
    avg.on_done(*params[1].impl());
  }
  CHECK(comm.started == 2);
  CHECK(comm.waited == 2);
}

TEST_CASE("dist: a run interrupted and resumed on two ranks ends bitwise equal to an uninterrupted one") {
  if (!two_ranks()) return;
  const SharedDir whole("mn_dist_whole"), resumed("mn_dist_resumed");
  // 2 epochs of 4 steps; the interruption falls mid-epoch, in the second.
  const Config c = parse_config(kTiny, "tiny.toml", {"train.epochs=2"});
  TrainOptions o;
  o.quiet = true;
  o.run_dir = whole.path;
  CHECK(train(c, o).steps == 8);
  o.run_dir = resumed.path;
  o.stop_after_steps = 6;
  CHECK(train(c, o).interrupted);
  o.stop_after_steps = -1;
  o.resume = true;
  CHECK(train(c, o).steps == 8);
  // Rank 0 wrote both checkpoints; every rank compares them.
  const SafetensorsFile a = load_safetensors(whole.path + "/last/model.safetensors");
  const SafetensorsFile b = load_safetensors(resumed.path + "/last/model.safetensors");
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    INFO(a.tensors[i].first);
    CHECK(bitwise_equal(a.tensors[i].second, b.tensors[i].second));
  }
}

TEST_CASE("dist: evaluation on two ranks gives the one-process figures") {
  if (!two_ranks()) return;
  const Config c = parse_config(kTiny, "tiny.toml", {});
  const ExperimentParts parts{.eval_resolutions = {28, 20}};
  const std::vector<Subnet> points{{1.0, 28}, {0.25, 20}};
  Experiment ranks(c, parts);
  dist::SingleProcess one;
  Experiment alone(c, parts, one);
  const std::vector<EvalResult> split = ranks.evaluate(points), whole = alone.evaluate(points);
  for (size_t i = 0; i < points.size(); ++i) {
    CHECK(split[i].images == 50);
    CHECK(split[i].top1 == whole[i].top1);
    CHECK(split[i].top5 == whole[i].top5);
    CHECK(split[i].loss == doctest::Approx(whole[i].loss).epsilon(1e-5));
  }
}
