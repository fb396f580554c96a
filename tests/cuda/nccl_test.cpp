// The NCCL communicator with one rank, the only way one GPU can run it (NCCL refuses two ranks on
// one GPU): it comes up over the process's world, and its all-reduce (sum, mean) and broadcast
// of CUDA tensors leave them as they are. Two ranks are the business of tests/dist on the CPU.
#include "dist/communicator.h"
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

TEST_CASE("cuda: NCCL with one rank") {
  if (!test::gpu_or_skip()) return;
  if (!dist::nccl_built()) {
    MESSAGE("skipped: this build has no NCCL (it needs CUDA, NCCL and MPI at configure time)");
    return;
  }
  if (dist::world().size() != 1) {
    MESSAGE("skipped: run as one process, this is ", dist::world().describe());
    return;
  }
  dist::Communicator& nccl = dist::for_device(gpu());
  CHECK(nccl.describe() == "NCCL rank 0 of 1");
  const Tensor x = test::normal_tensor({3000}, 15);
  const Tensor g = x.to(gpu());
  nccl.all_reduce_sum(g);
  test::check_equal(g.to(Device::cpu()), x, "all_reduce_sum");
  nccl.all_reduce_mean(g);
  test::check_equal(g.to(Device::cpu()), x, "all_reduce_mean");
  const Tensor labels = Tensor::arange(7).to(gpu());
  nccl.broadcast(labels, 0);
  CHECK(labels.to(Device::cpu()).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6});
}
