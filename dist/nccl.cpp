// The NCCL communicator: all-reduce and broadcast of CUDA tensors on mn's compute stream, between
// one GPU per rank. Set up over the process's world (rank 0's unique id is broadcast over MPI;
// one process needs no MPI), compiled with CUDA and NCCL. Like cuda/, it includes CUDA headers:
// NCCL is a CUDA library.
#include <nccl.h>

#include <cstring>

#include "cuda/common.h"
#include "dist/communicator.h"

namespace mn::dist {

namespace {

#define MN_NCCL_CHECK(expr)                                                                        \
  do {                                                                                             \
    const ncclResult_t mn_rc_ = (expr);                                                            \
    if (mn_rc_ != ncclSuccess) fail(#expr, " failed at ", __FILE__, ":", __LINE__, ": ", ncclGetErrorString(mn_rc_)); \
  } while (0)

class Nccl : public Communicator {
 public:
  explicit Nccl(Communicator& bootstrap) : bootstrap_(bootstrap) {
    ncclUniqueId id{};
    if (bootstrap.rank() == 0) MN_NCCL_CHECK(ncclGetUniqueId(&id));
    const Tensor bytes = Tensor::empty({int64_t(sizeof id)}, DType::u8);
    std::memcpy(bytes.data_ptr(), &id, sizeof id);
    bootstrap.broadcast(bytes, 0);
    std::memcpy(&id, bytes.data_ptr(), sizeof id);
    cuda::context();  // the GPU is selected before NCCL binds to it
    MN_NCCL_CHECK(ncclCommInitRank(&comm_, bootstrap.size(), id, bootstrap.rank()));
  }
  ~Nccl() override { ncclCommDestroy(comm_); }

  int rank() const override { return bootstrap_.rank(); }
  int size() const override { return bootstrap_.size(); }

  void all_reduce_sum(const Tensor& t) override {
    MN_CHECK(t.device().is_cuda() && t.dtype() == DType::f32 && t.is_contiguous(),
             "NCCL all_reduce: expects a contiguous float32 CUDA tensor");
    MN_NCCL_CHECK(ncclAllReduce(t.data_ptr(), t.data_ptr(), size_t(t.numel()), ncclFloat, ncclSum, comm_,
                                cuda::stream()));
  }

  void broadcast(const Tensor& t, int root) override {
    MN_CHECK(t.device().is_cuda() && t.is_contiguous(), "NCCL broadcast: expects a contiguous CUDA tensor");
    MN_NCCL_CHECK(ncclBroadcast(t.data_ptr(), t.data_ptr(), size_t(t.numel()) * dtype_size(t.dtype()), ncclUint8,
                                root, comm_, cuda::stream()));
  }

  void barrier() override { bootstrap_.barrier(); }

  std::string describe() const override { return cat("NCCL rank ", rank(), " of ", size()); }

 private:
  Communicator& bootstrap_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> nccl_communicator(Communicator& bootstrap) { return std::make_unique<Nccl>(bootstrap); }

}  // namespace mn::dist
