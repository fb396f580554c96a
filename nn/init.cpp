// Initialisers over the seeded generator of tensor/random.h.
#include "nn/init.h"

#include <cmath>

namespace mn::nn::init {

int64_t fan(const Tensor& w, Fan mode) {
  MN_CHECK(w.dim() >= 2, "init: fan of a ", w.dim(), "-d tensor ", shape_str(w.shape()),
           " is undefined");
  int64_t receptive = 1;
  for (int d = 2; d < w.dim(); ++d) receptive *= w.size(d);
  return (mode == Fan::in ? w.size(1) : w.size(0)) * receptive;
}

void kaiming_normal_(const Tensor& w, Fan mode, Generator& gen) {
  ops::normal_(w, 0, std::sqrt(2.0 / static_cast<double>(fan(w, mode))), gen);
}

void default_uniform_(const Tensor& w, Generator& gen) {
  const double bound = 1 / std::sqrt(static_cast<double>(fan(w, Fan::in)));
  ops::uniform_(w, -bound, bound, gen);
}

void normal_(const Tensor& t, double mean, double std, Generator& gen) {
  ops::normal_(t, mean, std, gen);
}

void uniform_(const Tensor& t, double lo, double hi, Generator& gen) {
  ops::uniform_(t, lo, hi, gen);
}

void constant_(const Tensor& t, double value) { t.fill_(value); }

}  // namespace mn::nn::init
