// The NCCL communicator: all-reduce and broadcast of CUDA tensors between one GPU per rank. Set up
// over the process's world (rank 0's unique id is broadcast over MPI; one process needs no MPI),
// compiled with CUDA and NCCL. Like cuda/, it includes CUDA headers: NCCL is a CUDA library.
//
// Every collective runs on a communication stream of its own, after the work already queued on
// the compute stream (an event), so that a gradient bucket's all-reduce overlaps the rest of the
// backward; waiting makes the compute stream wait for it (another event). Running them all on
// one stream also keeps this communicator's collectives in the order they were issued.
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

cudaEvent_t record_event(cudaStream_t stream) {
  cudaEvent_t e = nullptr;
  MN_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  MN_CUDA_CHECK(cudaEventRecord(e, stream));
  return e;
}

// Work queued on `waiter` from now on starts after `done`; the event is released when it fires.
void stream_wait(cudaStream_t waiter, cudaEvent_t done) {
  MN_CUDA_CHECK(cudaStreamWaitEvent(waiter, done, 0));
  MN_CUDA_CHECK(cudaEventDestroy(done));
}

// A collective queued on the communication stream; wait() orders the compute stream after it.
class NcclPending : public Pending {
 public:
  explicit NcclPending(cudaEvent_t done) : done_(done) {}
  NcclPending(const NcclPending&) = delete;
  NcclPending& operator=(const NcclPending&) = delete;
  ~NcclPending() override {
    if (done_) cudaEventDestroy(done_);
  }
  void wait() override {
    stream_wait(cuda::stream(), done_);
    done_ = nullptr;
  }

 private:
  cudaEvent_t done_;
};

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
    MN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    MN_NCCL_CHECK(ncclCommInitRank(&comm_, bootstrap.size(), id, bootstrap.rank()));
  }
  ~Nccl() override {
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }

  int rank() const override { return bootstrap_.rank(); }
  int size() const override { return bootstrap_.size(); }

  void all_reduce_sum(const Tensor& t) override { start_all_reduce_sum(t)->wait(); }

  std::unique_ptr<Pending> start_all_reduce_sum(const Tensor& t) override {
    MN_CHECK(t.device().is_cuda() && t.dtype() == DType::f32 && t.is_contiguous(),
             "NCCL all_reduce: expects a contiguous float32 CUDA tensor");
    return on_comm_stream([&] {
      MN_NCCL_CHECK(ncclAllReduce(t.data_ptr(), t.data_ptr(), size_t(t.numel()), ncclFloat, ncclSum, comm_, stream_));
    });
  }

  void broadcast(const Tensor& t, int root) override {
    MN_CHECK(t.device().is_cuda() && t.is_contiguous(), "NCCL broadcast: expects a contiguous CUDA tensor");
    on_comm_stream([&] {
      MN_NCCL_CHECK(ncclBroadcast(t.data_ptr(), t.data_ptr(), size_t(t.numel()) * dtype_size(t.dtype()), ncclUint8,
                                  root, comm_, stream_));
    })->wait();
  }

  void barrier() override { bootstrap_.barrier(); }

  std::string describe() const override { return cat("NCCL rank ", rank(), " of ", size()); }

 private:
  // Queues `collective` on the communication stream after the compute stream's work so far.
  template <class Collective>
  std::unique_ptr<Pending> on_comm_stream(Collective collective) {
    stream_wait(stream_, record_event(cuda::stream()));
    collective();
    return std::make_unique<NcclPending>(record_event(stream_));
  }

  Communicator& bootstrap_;
  cudaStream_t stream_ = nullptr;  // the communication stream
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> nccl_communicator(Communicator& bootstrap) { return std::make_unique<Nccl>(bootstrap); }

}  // namespace mn::dist
