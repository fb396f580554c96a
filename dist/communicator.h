// The communicator of data-parallel training (DESIGN.md: like DDP, not a parameter server): N
// processes, ranks 0..N-1, one per device, each with the whole model; they agree through a few
// collectives on tensors. world() is the process's communicator: MPI's when mpirun or srun
// started mn (and mn was built with MPI), otherwise one process whose collectives do nothing,
// which is exactly the single-process run.
//
//   dist::Communicator& comm = dist::world();
//   broadcast_module(comm, *model.net);            // rank 0's initial weights everywhere
//   ... backward of every sub-network ...
//   all_reduce_mean_grads(comm, model.net->parameters());
//   if (comm.rank() == 0) save_checkpoint(...);
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "nn/module.h"
#include "tensor/tensor.h"

namespace mn::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Element-wise sum over the ranks, in place on every rank: a contiguous float32 tensor.
  virtual void all_reduce_sum(const Tensor& t) = 0;
  // Rank `root`'s contents, in place on every rank: a contiguous tensor of any dtype.
  virtual void broadcast(const Tensor& t, int root) = 0;
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
  void barrier() override {}
  std::string describe() const override { return "one process"; }
};

// Created on first use (MPI_Init there, MPI_Finalize at exit); call it before the first CUDA
// call, because under MPI it gives each rank of a machine its own GPU (CUDA_VISIBLE_DEVICES =
// the local rank, unless the launcher set it).
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

// Gradients of all parameters averaged over the ranks, packed into flat buckets (of at most
// `bucket_bytes`) so that one step costs a few large all-reduces, not one per parameter. Every
// rank must have run the same sub-networks, so the same parameters have gradients.
void all_reduce_mean_grads(Communicator& comm, const std::vector<Variable>& params,
                           int64_t bucket_bytes = int64_t(64) << 20);
// Rank `root`'s parameters and buffers everywhere (identical initial weights).
void broadcast_module(Communicator& comm, nn::Module& module, int root = 0);

}  // namespace mn::dist
