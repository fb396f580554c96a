// The communicator's shared parts: world() picks MPI or one process, the mean and flag
// collectives on top of the sum, and the bucketed gradient average of a training step.
#include "dist/communicator.h"

#include <algorithm>

#include "tensor/elementwise.h"

namespace mn::dist {

#ifdef MN_HAVE_MPI
// dist/mpi.cpp: MPI's world when a launcher (mpirun, srun) started this process, else null.
std::unique_ptr<Communicator> launched_mpi_world();
void mpi_abort(int code);  // MPI_Abort on the world
#endif
#ifdef MN_HAVE_NCCL
// dist/nccl.cpp: a NCCL communicator over the same ranks, set up through `bootstrap`.
std::unique_ptr<Communicator> nccl_communicator(Communicator& bootstrap);
#endif

namespace {

// A sum over the ranks made their mean: in one place, so that every path rounds alike.
void divide_by_size(const Communicator& comm, const Tensor& t) {
  if (comm.size() > 1) t.copy_(ops::scale(t, 1.0 / double(comm.size())));
}

}  // namespace

std::unique_ptr<Pending> Communicator::start_all_reduce_sum(const Tensor& t) {
  all_reduce_sum(t);
  return std::make_unique<Pending>();
}

void Communicator::all_reduce_mean(const Tensor& t) {
  all_reduce_sum(t);
  divide_by_size(*this, t);
}

bool Communicator::any(bool flag) { return size() == 1 ? flag : sum(flag ? 1.0 : 0.0) > 0; }

Communicator& world() {
  static std::unique_ptr<Communicator> w = []() -> std::unique_ptr<Communicator> {
#ifdef MN_HAVE_MPI
    if (std::unique_ptr<Communicator> mpi = launched_mpi_world()) return mpi;
#endif
    return std::make_unique<SingleProcess>();
  }();
  return *w;
}

Communicator& for_device(Device device) {
#ifdef MN_HAVE_NCCL
  if (device.is_cuda()) {
    static std::unique_ptr<Communicator> nccl = nccl_communicator(world());
    return *nccl;
  }
#endif
  return world();
}

bool mpi_built() {
#ifdef MN_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool nccl_built() {
#ifdef MN_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

void abort_others(int code) {
#ifdef MN_HAVE_MPI
  if (world().size() > 1) mpi_abort(code);
#endif
}

GradAverager::GradAverager(Communicator& comm, std::vector<Variable> params, int64_t bucket_bytes)
    : comm_(comm),
      params_(std::move(params)),
      bucket_elems_(std::max<int64_t>(1, bucket_bytes / int64_t(sizeof(float)))),
      added_(params_.size(), false),
      buckets_(1) {
  for (size_t i = 0; i < params_.size(); ++i) index_[params_[i].impl().get()] = i;
}

GradAverager::~GradAverager() {
  // Only an error between a bucket's start and finish() leaves one here. The wait keeps the
  // memory until the all-reduce is done with it (on a GPU, the compute stream, on which it is
  // freed, waits for the collective). That error is unwinding through this destructor, so a
  // failure to wait must not replace it (or terminate): it is dropped. Waiting returns on some
  // rank: the collectives are issued in the same order everywhere, so every rank issues at least
  // those of the failing rank that issued the fewest, whose waits then return, and which stops
  // every rank (abort_others) once its error is printed.
  for (Bucket& b : buckets_) {
    if (!b.sum) continue;
    try {
      b.sum->wait();
    } catch (...) {
    }
  }
}

void GradAverager::on_done(const VariableImpl& leaf) {
  const auto it = index_.find(&leaf);
  if (it == index_.end() || !params_[it->second].grad().defined()) return;
  MN_CHECK(!added_[it->second], "GradAverager: a gradient finished twice (the hook is for the last backward only)");
  add(it->second);
}

void GradAverager::add(size_t param) {
  added_[param] = true;
  buckets_.back().params.push_back(param);
  filling_elems_ += params_[param].numel();
  if (filling_elems_ >= bucket_elems_) start_filled();
}

void GradAverager::start_filled() {
  for (Bucket& started : buckets_)
    if (started.sum) started.sum->progress();
  Bucket& b = buckets_.back();
  const Tensor& first = params_[b.params[0]].grad();
  b.flat = Tensor::empty({filling_elems_}, first.dtype(), first.device());
  int64_t at = 0;
  for (size_t i : b.params) {
    const Tensor& g = params_[i].grad();
    b.views.push_back(b.flat.slice(0, at, at + g.numel()).view(g.shape()));
    b.views.back().copy_(g);
    at += g.numel();
  }
  b.sum = comm_.start_all_reduce_sum(b.flat);
  buckets_.emplace_back();
  filling_elems_ = 0;
}

void GradAverager::finish() {
  for (size_t i = 0; i < params_.size(); ++i)
    if (!added_[i] && params_[i].grad().defined()) add(i);
  if (!buckets_.back().params.empty()) start_filled();
  buckets_.pop_back();  // the empty one that was being filled
  for (Bucket& b : buckets_) {
    b.sum->wait();
    divide_by_size(comm_, b.flat);
    for (size_t k = 0; k < b.params.size(); ++k) params_[b.params[k]].grad().copy_(b.views[k]);
  }
  buckets_.clear();
}

void broadcast_module(Communicator& comm, nn::Module& module, int root) {
  if (comm.size() == 1) return;
  for (auto& [name, t] : module.state_dict()) {
    MN_CHECK(t.is_contiguous(), "broadcast: ", name, " is not contiguous");
    comm.broadcast(t, root);
  }
}

}  // namespace mn::dist
