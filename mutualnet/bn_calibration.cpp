// BN recalibration with a cumulative average (see bn_calibration.h).
#include "mutualnet/bn_calibration.h"

#include <algorithm>
#include <utility>

#include "autograd/functions.h"
#include "tensor/elementwise.h"

namespace mn {

std::vector<nn::BatchNorm2d*> batch_norms(models::Model& model) {
  std::vector<nn::BatchNorm2d*> out;
  for (auto& [name, m] : model.net->named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) out.push_back(bn);
  return out;
}

void recalibrate_bn(models::Model& model, double width, int64_t resolution, data::Loader& loader,
                    int64_t num_batches, Device device, dist::Communicator* comm) {
  const int64_t total = std::min(num_batches, loader.batches_per_epoch());
  const int rank = comm ? comm->rank() : 0, ranks = comm ? comm->size() : 1;
  const int64_t first = total * rank / ranks, mine = total * (rank + 1) / ranks - first;
  std::vector<nn::BatchNorm2d*> bns = batch_norms(model);
  std::vector<double> momenta;
  std::vector<std::optional<ProcessGroup>> syncs;  // off here: ranks calibrate on their own whole batches
  for (nn::BatchNorm2d* bn : bns) {
    bn->reset_running_stats();
    momenta.push_back(bn->momentum);
    syncs.push_back(std::exchange(bn->sync, std::nullopt));
  }
  WidthScope scope(*model.width, width);
  NoGradGuard no_grad;
  model.net->train();
  // Batch k (0-based) enters with weight 1/(k+1): after n batches the statistics are their mean.
  loader.start_epoch(0, first);
  int64_t k = 0;
  for (; k < mine; ++k) {
    std::optional<data::Batch> batch = loader.next();
    if (!batch) break;
    for (nn::BatchNorm2d* bn : bns) bn->momentum = 1.0 / double(k + 1);
    model(Variable(batch->at_resolution(static_cast<int>(resolution)).to(device)));
  }
  MN_CHECK(total > 0 && k == mine, "BN recalibration: the calibration loader gave ", k, " of ", mine, " batches");
  for (size_t i = 0; i < bns.size(); ++i) {
    bns[i]->momentum = momenta[i];
    bns[i]->sync = syncs[i];
  }
  if (ranks > 1)
    for (nn::BatchNorm2d* bn : bns)
      for (Tensor* stat : {&bn->running_mean, &bn->running_var}) {
        const Tensor weighted = ops::scale(stat->to(Device::cpu()), double(mine) / double(total));
        comm->all_reduce_sum(weighted);
        stat->copy_(weighted);
      }
  model.net->eval();
}

BnStats save_bn_stats(models::Model& model) {
  BnStats out;
  for (nn::BatchNorm2d* bn : batch_norms(model)) {
    out.push_back(bn->running_mean.clone());
    out.push_back(bn->running_var.clone());
  }
  return out;
}

void load_bn_stats(models::Model& model, const BnStats& stats) {
  std::vector<nn::BatchNorm2d*> bns = batch_norms(model);
  MN_CHECK(stats.size() == 2 * bns.size(), "BN statistics: ", stats.size() / 2, " layers saved, the model has ",
           bns.size());
  for (size_t i = 0; i < bns.size(); ++i) {
    bns[i]->running_mean.copy_(stats[2 * i]);
    bns[i]->running_var.copy_(stats[2 * i + 1]);
  }
}

}  // namespace mn
