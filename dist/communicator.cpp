// The communicator's shared parts: world() picks MPI or one process, the mean and flag
// collectives on top of the sum, and the bucketed gradient all-reduce of a training step.
#include "dist/communicator.h"

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

void Communicator::all_reduce_mean(const Tensor& t) {
  all_reduce_sum(t);
  if (size() > 1) t.copy_(ops::scale(t, 1.0 / double(size())));
}

bool Communicator::any(bool flag) {
  if (size() == 1) return flag;
  Tensor f = Tensor::scalar(flag ? 1.0 : 0.0);
  all_reduce_sum(f);
  return f.item() > 0;
}

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

void all_reduce_mean_grads(Communicator& comm, const std::vector<Variable>& params, int64_t bucket_bytes) {
  if (comm.size() == 1) return;
  std::vector<Tensor> grads;
  for (const Variable& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  const int64_t bucket_elems = bucket_bytes / int64_t(sizeof(float));
  for (size_t first = 0; first < grads.size();) {
    // A bucket: consecutive gradients up to bucket_elems (a larger one alone), packed flat.
    size_t last = first;
    int64_t n = 0;
    while (last < grads.size() && (last == first || n + grads[last].numel() <= bucket_elems))
      n += grads[last++].numel();
    const Tensor flat = Tensor::empty({n}, DType::f32, grads[first].device());
    std::vector<Tensor> views;  // each gradient's place in `flat`
    for (int64_t at = 0; views.size() < last - first; at += views.back().numel()) {
      const Tensor& g = grads[first + views.size()];
      views.push_back(flat.slice(0, at, at + g.numel()).view(g.shape()));
    }
    for (size_t i = first; i < last; ++i) views[i - first].copy_(grads[i]);
    comm.all_reduce_mean(flat);
    for (size_t i = first; i < last; ++i) grads[i].copy_(views[i - first]);
    first = last;
  }
}

void broadcast_module(Communicator& comm, nn::Module& module, int root) {
  if (comm.size() == 1) return;
  for (auto& [name, t] : module.state_dict()) {
    MN_CHECK(t.is_contiguous(), "broadcast: ", name, " is not contiguous");
    comm.broadcast(t, root);
  }
}

}  // namespace mn::dist
