// SGD dispatch: validates the hyper-parameters and every (param, grad, buffer) triple; parameters
// without a gradient are skipped, as PyTorch does.
#include "tensor/sgd.h"

#include "tensor/op_checks.h"

namespace mn::ops {

void sgd_step(const std::vector<SgdParam>& params, const SgdArgs& args) {
  MN_CHECK(args.lr >= 0, "sgd: learning rate must be >= 0, got ", args.lr);
  MN_CHECK(args.momentum >= 0, "sgd: momentum must be >= 0, got ", args.momentum);
  MN_CHECK(!args.nesterov || (args.momentum > 0 && args.dampening == 0),
           "sgd: Nesterov momentum needs momentum > 0 and zero dampening, got momentum ",
           args.momentum, " and dampening ", args.dampening);
  std::vector<SgdParam> active;
  for (size_t i = 0; i < params.size(); ++i) {
    const SgdParam& p = params[i];
    if (!p.grad.defined()) continue;
    MN_CHECK(p.param.defined(), "sgd: parameter ", i, " is undefined");
    check_float("sgd", p.param, "parameter");
    check_same("sgd", p.param, "parameter", p.grad, "gradient");
    MN_CHECK(p.grad.shape() == p.param.shape(), "sgd: parameter ", i, " ",
             shape_str(p.param.shape()), " has a gradient of shape ", shape_str(p.grad.shape()));
    MN_CHECK(p.param.is_contiguous(), "sgd: parameter ", i, " ", shape_str(p.param.shape()),
             " must be contiguous to be updated in place");
    MN_CHECK(p.weight_decay >= 0, "sgd: weight decay of parameter ", i, " must be >= 0, got ",
             p.weight_decay);
    SgdParam q = p;
    q.grad = p.grad.contiguous();
    if (args.momentum != 0) {
      check_same("sgd", p.param, "parameter", p.momentum_buffer, "momentum buffer");
      MN_CHECK(p.momentum_buffer.shape() == p.param.shape() && p.momentum_buffer.is_contiguous(),
               "sgd: momentum buffer of parameter ", i, " ", shape_str(p.param.shape()),
               " must be contiguous of the same shape, got ",
               shape_str(p.momentum_buffer.shape()));
    }
    if (p.param.numel() > 0) active.push_back(q);
  }
  if (active.empty()) return;
  const Device device = active.front().param.device();
  for (const SgdParam& p : active)
    MN_CHECK(p.param.device() == device, "sgd: parameters on ", device.str(), " and ",
             p.param.device().str(), " in one step");
  backend(device).sgd_step(active, args);
}

}  // namespace mn::ops
