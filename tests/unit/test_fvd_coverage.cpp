// The coverage of FVD's bootstrap interval on 400-d Gaussians, measured over 200 simulated
// pairs of sets per N (a few minutes on 2 cores: labelled `unit` and `minutes`; the quick loop is
// `ctest -L unit -LE minutes`).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "metrics/fvd/frechet.h"
#include "tests/unit/fvd_test_util.h"

namespace osv {
namespace {

using fvd_test::gaussian_set;

// Coverage on 400-d Gaussians (the I3D logits' dimension): for each N, 200 seeded pairs of sets
// (real N(0, diag(sd^2)), generated N(0.05, diag((1.1 sd)^2))); E[FD_N] is the mean FD over the
// pairs (its own standard error is sd/sqrt(200), printed). The interval for E[FD_N] must cover it
// in >= 90% of the pairs for a nominal 95%; the plain percentile interval (reported before) must
// fail (< 50%), because FD_N is biased upward and a resample adds the bias again. 25 resamples per
// pair keep the test in seconds; quantiles from 25 draws are noisier than from the default 1000,
// which lowers coverage, so the test is the harder case. Printed: the bootstrap se and bias against
// the true standard deviation and bias (population FD known in closed form).
TEST(FvdInterval, BootstrapIntervalCoversTheExpectedFvd) {
  constexpr int64_t kDim = 400;
  constexpr int kReps = 200, kResamples = 25;
  const auto sd = torch::linspace(std::sqrt(0.2), std::sqrt(2.0), kDim, torch::kFloat64);
  const double shift = 0.05, scale = 1.1;
  const double population = kDim * shift * shift + (sd * sd).sum().item<double>() * (1 - scale) * (1 - scale);
  for (int64_t n : {256, 1000, 2048}) {
    std::vector<double> fds;
    std::vector<BootstrapSummary> sums;
    for (int rep = 0; rep < kReps; ++rep) {
      const auto real = gaussian_set(n, sd, 0.0, 1000 * n + 2 * rep);
      const auto fake = gaussian_set(n, sd * scale, shift, 1000 * n + 2 * rep + 1);
      const double fd = frechet_distance_from_features(real, fake, CovNormaliser::N);
      fds.push_back(fd);
      sums.push_back(summarise_bootstrap(fd, bootstrap_fds(real, fake, CovNormaliser::N, kResamples, rep), 0.95));
    }
    double expected = 0, var = 0, se = 0, bias = 0;
    for (double f : fds) expected += f / kReps;
    for (double f : fds) var += (f - expected) * (f - expected) / (kReps - 1);
    int covered = 0, covered_pct = 0;
    for (const auto& s : sums) {
      covered += s.low <= expected && expected <= s.high;
      covered_pct += s.pct_low <= expected && expected <= s.pct_high;
      se += s.se / kReps;
      bias += s.bias / kReps;
    }
    const double cov = double(covered) / kReps, cov_pct = double(covered_pct) / kReps;
    std::printf("N=%ld: E[FD_N] %.3f +- %.3f (population %.3f); coverage of E[FD_N]: interval %.3f, percentile "
                "%.3f; sd(FD_N) %.4f vs mean bootstrap se %.4f; bias %.3f vs mean bootstrap bias %.3f\n",
                static_cast<long>(n), expected, std::sqrt(var / kReps), population, cov, cov_pct, std::sqrt(var), se,
                expected - population, bias);
    EXPECT_GE(cov, 0.9) << "N=" << n;
    EXPECT_LT(cov_pct, 0.5) << "N=" << n;
  }
}

}  // namespace
}  // namespace osv
