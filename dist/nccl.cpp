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

cudaEvent_t make_event() {
  cudaEvent_t e = nullptr;
  MN_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

// A collective queued on the communication stream, with an event recorded after it; wait()
// orders the compute stream after that event.
class NcclPending : public Pending {
 public:
  explicit NcclPending(cudaStream_t comm_stream) : done_(make_event()) {
    MN_CUDA_CHECK(cudaEventRecord(done_, comm_stream));
  }
  NcclPending(const NcclPending&) = delete;
  NcclPending& operator=(const NcclPending&) = delete;
  // Released when it fires, whether or not it was waited for.
  ~NcclPending() override { cudaEventDestroy(done_); }
  void wait() override { MN_CUDA_CHECK(cudaStreamWaitEvent(cuda::stream(), done_, 0)); }

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
    compute_mark_ = make_event();
    MN_NCCL_CHECK(ncclCommInitRank(&comm_, bootstrap.size(), id, bootstrap.rank()));
  }
  ~Nccl() override {
    ncclCommDestroy(comm_);
    cudaEventDestroy(compute_mark_);
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

  double sum(double v) override { return bootstrap_.sum(v); }  // host numbers go over MPI

  void barrier() override { bootstrap_.barrier(); }

  std::string describe() const override { return cat("NCCL rank ", rank(), " of ", size()); }

 private:
  // Queues `collective` on the communication stream after the compute stream's work so far.
  template <class Collective>
  std::unique_ptr<Pending> on_comm_stream(Collective collective) {
    // One event serves every call: the wait takes the event's state when it is queued.
    MN_CUDA_CHECK(cudaEventRecord(compute_mark_, cuda::stream()));
    MN_CUDA_CHECK(cudaStreamWaitEvent(stream_, compute_mark_, 0));
    collective();
    return std::make_unique<NcclPending>(stream_);
  }

  Communicator& bootstrap_;
  cudaStream_t stream_ = nullptr;  // the communication stream
  cudaEvent_t compute_mark_ = nullptr;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> nccl_communicator(Communicator& bootstrap) { return std::make_unique<Nccl>(bootstrap); }

}  // namespace mn::dist
