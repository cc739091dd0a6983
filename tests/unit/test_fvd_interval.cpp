// FVD's fast forms and its interval: the N x N (Gram) form against the covariance form, the two
// computation paths against the textbook formula, and what compute_fvd reports from its draws.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <vector>

#include "metrics/fvd/frechet.h"
#include "tests/unit/fvd_test_util.h"

namespace osv {
namespace {

using fvd_test::gaussian_set;

FrechetStats from_rows(const Eigen::MatrixXd& x) {
  FrechetStats s(x.cols(), true);
  s.add(x);
  return s;
}

// Fewer videos than dimensions: the N x N form gives the covariance form's value, on both
// normalisers. The covariance form's S1 is then singular (the eigendecomposition path): each of its
// ~45 null eigenvalues comes out as +-1e-14 or so and adds up to sqrt(1e-14) to the trace of the
// root, hence 1e-7 relative here; the N x N form has no null directions, which is why compute_fvd
// takes it.
TEST(FvdInterval, GramFormEqualsTheCovarianceForm) {
  const auto sd = torch::linspace(0.5, 2.0, 64, torch::kFloat64);
  const auto a = gaussian_set(20, sd, 0.0, 1), b = gaussian_set(30, sd * 1.3, 0.2, 2);
  for (auto n : {CovNormaliser::N, CovNormaliser::NMinus1}) {
    const double cov = frechet_distance(a, b, n), gram = frechet_distance_from_features(a, b, n);
    EXPECT_NEAR(gram, cov, 1e-7 * cov);
    EXPECT_EQ(compute_fvd(a, b, FvdOptions{n}).fvd, gram);  // compute_fvd takes the N x N form here
  }
  // More videos than dimensions: the covariance form from features equals the one from sums.
  const auto c = gaussian_set(200, sd.slice(0, 0, 16), 0.0, 3), d = gaussian_set(150, sd.slice(0, 0, 16), 0.1, 4);
  const double sums = frechet_distance(c, d, CovNormaliser::N);
  EXPECT_NEAR(frechet_distance_from_features(c, d, CovNormaliser::N), sums, 1e-10 * sums);
  // Sets longer than the covariance form's block of rows (read in blocks of 256, each centred on
  // its own): still the value from sums, a set of 3 blocks against one of 2 unequal ones.
  const auto e = gaussian_set(700, sd.slice(0, 0, 16), 0.0, 5), f = gaussian_set(300, sd.slice(0, 0, 16), 0.1, 6);
  for (auto n : {CovNormaliser::N, CovNormaliser::NMinus1}) {
    const double ef = frechet_distance(e, f, n);
    EXPECT_NEAR(frechet_distance_from_features(e, f, n), ef, 1e-10 * ef);
  }
}

// The Cholesky path (S1 full rank) and the eigendecomposition path (S1 singular) agree with the
// textbook S1^1/2 S2 S1^1/2 computed independently in Eigen.
TEST(FvdInterval, CholeskyAndEigenPathsMatchTheTextbookFormula) {
  const auto sd = torch::linspace(0.2, 3.0, 40, torch::kFloat64);
  for (int64_t n1 : {30, 400}) {  // 30 < 40: singular S1 (Cholesky fails); 400: full rank
    const auto a = gaussian_set(n1, sd, 0.0, 5), b = gaussian_set(300, sd.flip(0), 0.3, 6);
    const auto s1 = a.covariance(CovNormaliser::N), s2 = b.covariance(CovNormaliser::N);
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> e(s1);
    const Eigen::MatrixXd h =
        e.eigenvectors() * e.eigenvalues().cwiseMax(0.0).cwiseSqrt().asDiagonal() * e.eigenvectors().transpose();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> m(h * s2 * h, Eigen::EigenvaluesOnly);
    const double ref = (a.mean() - b.mean()).squaredNorm() + s1.trace() + s2.trace() -
                       2.0 * m.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
    EXPECT_NEAR(frechet_distance(a, b, CovNormaliser::N), ref, 1e-9 * ref) << n1;
  }
}

// The bootstrap draws of the N x N form equal those of the covariance form: the same features with
// zero columns appended (FD unchanged) cross from N > D to N < D. The resamples keep ~35 distinct
// videos in 12 dimensions: well-conditioned covariances, so both forms agree to round-off.
TEST(FvdInterval, BootstrapDrawsAgreeAcrossTheTwoForms) {
  const auto sd = torch::linspace(0.5, 1.5, 12, torch::kFloat64);
  const auto a = gaussian_set(60, sd, 0.0, 7), b = gaussian_set(50, sd, 0.4, 8);
  auto pad = [](const FrechetStats& s) {
    Eigen::MatrixXd x = Eigen::MatrixXd::Zero(s.count(), 128);
    x.leftCols(s.dim()) = s.features();
    return from_rows(x);
  };
  const auto narrow = bootstrap_fds(a, b, CovNormaliser::N, 30, 11);          // 60, 50 > 12: covariance form
  const auto wide = bootstrap_fds(pad(a), pad(b), CovNormaliser::N, 30, 11);  // 60, 50 < 128: N x N form
  ASSERT_EQ(narrow.size(), wide.size());
  for (std::size_t i = 0; i < narrow.size(); ++i) EXPECT_NEAR(wide[i], narrow[i], 1e-10 * narrow[i]) << i;
  EXPECT_NE(narrow[0], narrow[1]);
}

// compute_fvd reports what summarise_bootstrap gives on the same draws.
TEST(FvdInterval, ComputeFvdReportsTheSummaryOfItsDraws) {
  const auto sd = torch::ones({8}, torch::kFloat64);
  const auto a = gaussian_set(100, sd, 0.0, 9), b = gaussian_set(100, sd * 1.2, 0.3, 10);
  FvdOptions o;
  o.bootstrap = 50;
  o.seed = 4;
  const auto r = compute_fvd(a, b, o);
  const auto s = summarise_bootstrap(r.fvd, bootstrap_fds(a, b, CovNormaliser::N, 50, 4), 0.95);
  ASSERT_TRUE(r.ci_low && r.ci_high && r.se && r.bias);
  EXPECT_EQ(*r.ci_low, s.low);
  EXPECT_EQ(*r.ci_high, s.high);
  EXPECT_EQ(*r.se, s.se);
  EXPECT_EQ(*r.bias, s.bias);
  // The interval for E[FD_N] has the percentile interval's width, moved to sit about the estimate.
  EXPECT_NEAR(s.high - s.low, s.pct_high - s.pct_low, 1e-12);
  EXPECT_LT(s.low, r.fvd);
  EXPECT_GT(s.high, r.fvd);
}

}  // namespace
}  // namespace osv
