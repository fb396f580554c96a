// The communicator of data-parallel training (DESIGN.md: like DDP, not a parameter server): N
// processes, ranks 0..N-1, one per device, each with the whole model; they agree through a few
// collectives on tensors. world() is the process's communicator: MPI's when mpirun or srun
// started mn (and mn was built with MPI), otherwise one process whose collectives do nothing,
// which is exactly the single-process run.
//
//   dist::Communicator& comm = dist::world();
//   broadcast_module(comm, *model.net);            // rank 0's initial weights everywhere
//   dist::GradAverager avg(comm, model.net->parameters(), 4 << 20);
//   ... backward of every sub-network, the last one with avg.on_done as its hook ...
//   avg.finish();                                  // every gradient the mean over the ranks
//   if (comm.rank() == 0) save_checkpoint(...);
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "autograd/variable.h"
#include "nn/module.h"
#include "tensor/tensor.h"

namespace mn::dist {

// A collective in flight. The base class is one that has already completed.
class Pending {
 public:
  virtual ~Pending() = default;
  // Returns once the result may be used: on the CPU, it is in the tensor; on a GPU, work queued
  // after wait() on the compute stream sees it.
  virtual void wait() {}
  // Lets the library move the operation on (MPI progresses nonblocking collectives only inside
  // its own calls).
  virtual void progress() {}
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Element-wise sum over the ranks, in place on every rank: a contiguous float32 tensor (float64
  // too over MPI, for exact comparisons in tests).
  virtual void all_reduce_sum(const Tensor& t) = 0;
  // all_reduce_sum, started: the sum is in t after wait(); until then t must stay alive and
  // untouched. Collectives, started or not, must be issued in the same order on every rank. By
  // default it completes before returning.
  virtual std::unique_ptr<Pending> start_all_reduce_sum(const Tensor& t);
  // Rank `root`'s contents, in place on every rank: a contiguous tensor of any dtype.
  virtual void broadcast(const Tensor& t, int root) = 0;
  // The sum over the ranks of a host number, on every rank: no device is involved, so it does not
  // wait for the GPU. Exact for whole numbers below 2^53 (counts).
  virtual double sum(double v) = 0;
  virtual void barrier() = 0;
  virtual std::string describe() const = 0;  // "MPI rank 1 of 4", "one process"

  void all_reduce_mean(const Tensor& t);
  bool any(bool flag);  // true on every rank when it is true on one (Ctrl-C on any rank stops all)
};

// One process: rank 0 of 1. Also what a test uses to compute, inside an MPI run, what one process
// would compute.
class SingleProcess : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce_sum(const Tensor&) override {}
  void broadcast(const Tensor&, int) override {}
  double sum(double v) override { return v; }
  void barrier() override {}
  std::string describe() const override { return "one process"; }
};

// Created on first use (MPI_Init there, MPI_Finalize at exit); call it before the first CUDA
// call, because under MPI it gives each rank of a machine its own GPU: the node-local rank's,
// modulo the GPUs the rank sees (cuda_select_device).
Communicator& world();
// The communicator for tensors on `device`: NCCL's for CUDA tensors when mn has it (set up over
// world() on first use, also for one rank), else world() (MPI copies GPU tensors through host
// memory).
Communicator& for_device(Device device);
bool mpi_built();
bool nccl_built();

// After a rank's error is printed: stops every rank (MPI_Abort) when there are several, so no
// rank waits forever in a collective; returns otherwise.
void abort_others(int code);

// The gradients of one data-parallel step averaged over the ranks, in flat buckets of about
// `bucket_bytes` (a few large all-reduces, not one per parameter), overlapped with the last
// backward: that backward's hook (LeafDoneHook) is on_done, which adds each finished gradient to
// the bucket being filled and starts the bucket's all-reduce once it holds bucket_bytes, while
// the backward goes on. finish() sends the rest (gradients already final before the last
// backward, in parameter order), waits for every bucket and writes each gradient's mean back.
// Every rank runs the same sub-networks, so the same gradients finish in the same order and the
// buckets, and the order of their collectives, are the same on every rank. Without any on_done
// call, finish() is the blocking all-reduce of every gradient after the backward.
class GradAverager {
 public:
  GradAverager(Communicator& comm, std::vector<Variable> params, int64_t bucket_bytes);
  // Waits for every bucket started and not yet finished (after an error before finish()), whose
  // all-reduce may still be writing into it.
  ~GradAverager();
  void on_done(const VariableImpl& leaf);
  void finish();

 private:
  struct Bucket {
    std::vector<size_t> params;
    Tensor flat;                // the gradients packed, all-reduced in place
    std::vector<Tensor> views;  // each gradient's place in flat
    std::unique_ptr<Pending> sum;
  };
  void add(size_t param);
  void start_filled();

  Communicator& comm_;
  const std::vector<Variable> params_;
  const int64_t bucket_elems_;
  std::unordered_map<const VariableImpl*, size_t> index_;  // leaf -> position in params_
  std::vector<bool> added_;
  std::vector<Bucket> buckets_;  // the last one is being filled
  int64_t filling_elems_ = 0;
};

// Rank `root`'s parameters and buffers everywhere (identical initial weights).
void broadcast_module(Communicator& comm, nn::Module& module, int root = 0);

}  // namespace mn::dist
