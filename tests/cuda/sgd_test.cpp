// The fused CUDA SGD step against the CPU's over three steps: plain, momentum with weight decay,
// Nesterov, dampening; more parameters than one launch carries, sizes that are not multiples of
// a chunk, and parameters without a gradient (skipped).
#include "tests/cuda/cuda_test_util.h"

using namespace mn;
using test::gpu;

TEST_CASE("cuda: the fused SGD step matches the CPU") {
  if (!test::gpu_or_skip()) return;
  struct Case {
    const char* name;
    double lr, momentum, dampening;
    bool nesterov;
  };
  const Case cases[] = {{"plain", 0.1, 0, 0, false}, {"momentum", 0.05, 0.9, 0, false},
                        {"nesterov", 0.1, 0.9, 0, true}, {"dampening", 0.05, 0.9, 0.3, false}};
  for (const Case& c : cases) {
    std::vector<SgdParam> cpu, gpu_params;
    for (int i = 0; i < 150; ++i) {  // > 64 parameters: several launches
      const int64_t n = i % 10 == 0 ? 40000 + i : 1 + i * 37;
      SgdParam p;
      p.param = test::normal_tensor({n}, 140 + i);
      p.momentum_buffer = Tensor::zeros({n});
      p.weight_decay = i % 3 == 0 ? 0.0 : 5e-4 * (i % 3);
      cpu.push_back(p);
      SgdParam q = p;
      q.param = p.param.to(gpu());
      q.momentum_buffer = p.momentum_buffer.to(gpu());
      gpu_params.push_back(q);
    }
    for (int step = 0; step < 3; ++step) {
      for (size_t i = 0; i < cpu.size(); ++i) {
        if (i % 17 == 5) continue;  // no gradient this step: left alone
        cpu[i].grad = test::normal_tensor(cpu[i].param.shape(), 1000 * step + i);
        gpu_params[i].grad = cpu[i].grad.to(gpu());
      }
      SgdArgs a;
      a.lr = c.lr;
      a.momentum = c.momentum;
      a.dampening = c.dampening;
      a.nesterov = c.nesterov;
      a.first_step = step == 0;
      ops::sgd_step(cpu, a);
      ops::sgd_step(gpu_params, a);
      for (auto& p : cpu) p.grad = Tensor();
      for (auto& p : gpu_params) p.grad = Tensor();
    }
    for (size_t i = 0; i < cpu.size(); ++i) {
      test::check_gpu_close(gpu_params[i].param, cpu[i].param, 1e-5, 1e-6, cat(c.name, " param ", i));
      if (c.momentum != 0)
        test::check_gpu_close(gpu_params[i].momentum_buffer, cpu[i].momentum_buffer, 1e-5, 1e-6,
                              cat(c.name, " buffer ", i));
    }
  }
}
