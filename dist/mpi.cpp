// The MPI communicator (Open MPI, MPICH): CPU tensors directly, GPU tensors through host memory
// (NCCL, dist/nccl.cpp, carries them when built). MPI is initialised only when a launcher started
// this process, so a plain `mn train` never touches MPI and is exactly the single-process run.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "tensor/backend.h"

namespace mn::dist {

namespace {

#define MN_MPI_CHECK(expr)                                                              \
  do {                                                                                  \
    const int mn_rc_ = (expr);                                                          \
    if (mn_rc_ != MPI_SUCCESS) fail_mpi(mn_rc_, #expr, __FILE__, __LINE__);             \
  } while (0)

[[noreturn]] void fail_mpi(int rc, const char* expr, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail(expr, " failed at ", file, ":", line, ": ", std::string(text, size_t(len)));
}

// Environment variables set by the launchers: Open MPI's mpirun, PMIx (srun --mpi=pmix, Open MPI
// 5) and PMI (MPICH's hydra, srun --mpi=pmi2).
bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

// MPI counts are ints: larger tensors go in pieces, op(offset, count) each.
constexpr int64_t kMaxCount = INT_MAX / 8;
template <class Op>
void in_pieces(int64_t n, Op op) {
  for (int64_t at = 0; at < n; at += kMaxCount) op(at, int(std::min(kMaxCount, n - at)));
}

// Nonblocking all-reduces (one per piece) in flight.
class MpiPending : public Pending {
 public:
  std::vector<MPI_Request> requests;
  void wait() override {
    MN_MPI_CHECK(MPI_Waitall(int(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
  }
  void progress() override {
    int done = 0;
    MN_MPI_CHECK(MPI_Testall(int(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE));
  }
};

class Mpi : public Communicator {
 public:
  Mpi() {
    MN_MPI_CHECK(MPI_Init(nullptr, nullptr));
    // Errors come back as codes (turned into mn::Error) instead of aborting inside MPI.
    MN_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MN_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    MN_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
    // One GPU per rank of a machine: the node-local rank picks it among the GPUs this rank sees
    // (all of the machine's, or the one the launcher gave it).
    MPI_Comm node;
    MN_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
    int local = 0;
    MN_MPI_CHECK(MPI_Comm_rank(node, &local));
    MN_MPI_CHECK(MPI_Comm_free(&node));
    cuda_select_device(local);
  }
  ~Mpi() override { MPI_Finalize(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_reduce_sum(const Tensor& t) override {
    const MPI_Datatype type = sum_type(t);
    on_host(t, [&](const Tensor& h) {
      char* p = static_cast<char*>(h.data_ptr());
      in_pieces(h.numel(), [&](int64_t at, int count) {
        MN_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p + at * dtype_size(h.dtype()), count, type, MPI_SUM, MPI_COMM_WORLD));
      });
    });
  }

  // CPU tensors only: a GPU tensor's trip through host memory blocks anyway.
  std::unique_ptr<Pending> start_all_reduce_sum(const Tensor& t) override {
    const MPI_Datatype type = sum_type(t);
    if (!t.device().is_cpu()) return Communicator::start_all_reduce_sum(t);
    auto pending = std::make_unique<MpiPending>();
    char* p = static_cast<char*>(t.data_ptr());
    in_pieces(t.numel(), [&](int64_t at, int count) {
      MN_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, p + at * dtype_size(t.dtype()), count, type, MPI_SUM, MPI_COMM_WORLD,
                                  &pending->requests.emplace_back()));
    });
    return pending;
  }

  void broadcast(const Tensor& t, int root) override {
    MN_CHECK(t.is_contiguous(), "broadcast: expects a contiguous tensor");
    on_host(t, [&](const Tensor& h) {
      auto* p = static_cast<char*>(h.data_ptr());
      in_pieces(h.numel() * int64_t(dtype_size(h.dtype())), [&](int64_t at, int count) {
        MN_MPI_CHECK(MPI_Bcast(p + at, count, MPI_BYTE, root, MPI_COMM_WORLD));
      });
    });
  }

  double sum(double v) override {
    MN_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    return v;
  }

  void barrier() override { MN_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD)); }

  std::string describe() const override { return cat("MPI rank ", rank_, " of ", size_); }

 private:
  // float32 for training; float64 for the tests that compare with one process in exact arithmetic.
  static MPI_Datatype sum_type(const Tensor& t) {
    MN_CHECK((t.dtype() == DType::f32 || t.dtype() == DType::f64) && t.is_contiguous(),
             "all_reduce: expects a contiguous float32 or float64 tensor, got ", dtype_name(t.dtype()),
             t.is_contiguous() ? "" : " (not contiguous)");
    return t.dtype() == DType::f32 ? MPI_FLOAT : MPI_DOUBLE;
  }

  // Runs `op` on t, or on a host copy of a GPU tensor that is then copied back.
  template <class Op>
  static void on_host(const Tensor& t, Op op) {
    if (t.device().is_cpu()) return op(t);
    const Tensor h = t.to(Device::cpu());
    op(h);
    t.copy_(h);
  }

  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> launched_mpi_world() {
  if (!launched_by_mpi()) return nullptr;
  return std::make_unique<Mpi>();
}

void mpi_abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
}

}  // namespace mn::dist
