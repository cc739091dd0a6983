// Seeded Gaussian feature sets for the FVD tests.
#pragma once

#include <torch/torch.h>

#include "metrics/fvd/frechet.h"

namespace osv::fvd_test {

// rows x dim, N(shift, diag(sd^2)), from a seeded torch generator; features kept.
inline FrechetStats gaussian_set(int64_t rows, const torch::Tensor& sd, double shift, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto x = (torch::randn({rows, sd.size(0)}, gen, torch::kFloat64) * sd + shift).contiguous();
  FrechetStats s(sd.size(0), true);
  s.add(x.data_ptr<double>(), rows);
  return s;
}

}  // namespace osv::fvd_test
