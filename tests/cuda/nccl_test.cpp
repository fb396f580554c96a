// The NCCL communicator with one rank, the only way one GPU can run it (NCCL refuses two ranks on
// one GPU): it comes up over the process's world, and its all-reduce (sum, mean, started and
// waited for) and broadcast of CUDA tensors leave them as they are, as does the gradient average
// started bucket by bucket during a backward on its communication stream. Two ranks are the
// business of tests/dist on the CPU.
#include "autograd/functions.h"
#include "dist/communicator.h"
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

namespace {

// The one-rank NCCL communicator, or null after saying why the test is skipped.
dist::Communicator* nccl_or_skip() {
  if (!test::gpu_or_skip()) return nullptr;
  if (!dist::nccl_built()) {
    MESSAGE("skipped: this build has no NCCL (it needs CUDA and NCCL at configure time)");
    return nullptr;
  }
  if (dist::world().size() != 1) {
    MESSAGE("skipped: run as one process, this is ", dist::world().describe());
    return nullptr;
  }
  return &dist::for_device(gpu());
}

}  // namespace

TEST_CASE("cuda: NCCL with one rank") {
  dist::Communicator* nccl = nccl_or_skip();
  if (!nccl) return;
  CHECK(nccl->describe() == "NCCL rank 0 of 1");
  const Tensor x = test::normal_tensor({3000}, 15);
  const Tensor g = x.to(gpu());
  nccl->all_reduce_sum(g);
  test::check_equal(g.to(Device::cpu()), x, "all_reduce_sum");
  nccl->all_reduce_mean(g);
  test::check_equal(g.to(Device::cpu()), x, "all_reduce_mean");
  const std::unique_ptr<dist::Pending> started = nccl->start_all_reduce_sum(g);
  started->wait();
  test::check_equal(g.to(Device::cpu()), x, "start_all_reduce_sum, then wait");
  const Tensor labels = Tensor::arange(7).to(gpu());
  nccl->broadcast(labels, 0);
  CHECK(labels.to(Device::cpu()).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6});
}

TEST_CASE("cuda: NCCL with one rank, gradients averaged in buckets started during the backward") {
  dist::Communicator* nccl = nccl_or_skip();
  if (!nccl) return;
  const Variable w1(test::normal_tensor({64, 32}, 16).to(gpu()), true), w2(test::normal_tensor({10, 64}, 17).to(gpu()), true);
  const Variable x(test::normal_tensor({8, 32}, 18).to(gpu()));
  const Variable loss = sum(linear(relu(linear(x, w1, std::nullopt)), w2, std::nullopt));
  dist::GradAverager average(*nccl, {w1, w2}, 1024);  // each weight fills a bucket of its own
  int done = 0;
  loss.backward({}, [&](const VariableImpl& leaf) {
    ++done;
    average.on_done(leaf);
  });
  CHECK(done == 2);
  const Tensor g1 = w1.grad().to(Device::cpu()), g2 = w2.grad().to(Device::cpu());
  average.finish();
  test::check_gpu_equal(w1.grad(), g1, "w1's gradient, averaged over one rank");
  test::check_gpu_equal(w2.grad(), g2, "w2's gradient, averaged over one rank");
}
