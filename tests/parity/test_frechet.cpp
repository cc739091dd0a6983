// Fréchet distance: C++ (LAPACK: Cholesky or eigh, then eigenvalues) vs scipy.linalg.sqrtm on random
// cases, dims 16..1024 and N 10..5000 (singular and full covariances), to 1e-6 relative.
#include <Eigen/Dense>

#include "metrics/fvd/frechet.h"
#include "tests/parity/parity_util.h"

namespace osv {
namespace {

Eigen::MatrixXd matrix(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous();
  const int64_t rows = c.size(0), cols = c.dim() == 2 ? c.size(1) : 1;
  return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(c.data_ptr<double>(),
                                                                                                   rows, cols);
}

TEST(ParityFrechet, MatchesScipySqrtm) {
  const auto ref = parity::io("frechet");
  const auto cases = ref.tensor("cases");
  double worst = 0;
  for (int64_t i = 0; i < cases.size(0); ++i) {
    const auto p = std::to_string(i) + ".";
    const double expected = ref.tensor(p + "fd").item<double>();
    const double fd = frechet_distance(matrix(ref.tensor(p + "mu1")), matrix(ref.tensor(p + "s1")),
                                       matrix(ref.tensor(p + "mu2")), matrix(ref.tensor(p + "s2")));
    const double rel = std::abs(fd - expected) / std::abs(expected);
    worst = std::max(worst, rel);
    std::printf("[parity] frechet dim %4lld  N %4lld/%4lld: C++ %.10g scipy %.10g  relative error %.3g\n",
                static_cast<long long>(cases[i][0].item<int64_t>()), static_cast<long long>(cases[i][1].item<int64_t>()),
                static_cast<long long>(cases[i][2].item<int64_t>()), fd, expected, rel);
    EXPECT_LE(rel, 1e-6) << "case " << i;
  }
  std::printf("[parity] frechet worst relative error vs scipy: %.3g (tolerance 1e-6)\n", worst);
}

TEST(ParityFrechet, StatisticsAccumulateLikeNumpy) {
  const auto ref = parity::io("frechet");
  int checked = 0;
  for (int64_t i = 0; i < ref.tensor("cases").size(0); ++i) {
    const auto p = std::to_string(i) + ".";
    if (!ref.contains(p + "x1")) continue;
    const auto x1 = matrix(ref.tensor(p + "x1")), x2 = matrix(ref.tensor(p + "x2"));
    FrechetStats a(x1.cols()), b(x2.cols()), a1(x1.cols()), a2(x1.cols());
    a.add(x1);
    b.add(x2);
    // Two shards merged equal one pass.
    a1.add(Eigen::MatrixXd(x1.topRows(x1.rows() / 2)));
    a2.add(Eigen::MatrixXd(x1.bottomRows(x1.rows() - x1.rows() / 2)));
    a1.merge(a2);
    EXPECT_LE((a.covariance(CovNormaliser::N) - matrix(ref.tensor(p + "s1"))).cwiseAbs().maxCoeff(), 1e-10);
    EXPECT_LE((a1.covariance(CovNormaliser::N) - a.covariance(CovNormaliser::N)).cwiseAbs().maxCoeff(), 1e-10);
    EXPECT_LE((a.mean() - matrix(ref.tensor(p + "mu1"))).cwiseAbs().maxCoeff(), 1e-12);
    const double fd = frechet_distance(a, b, CovNormaliser::N);
    EXPECT_NEAR(fd, ref.tensor(p + "fd").item<double>(), 1e-6 * std::abs(fd));
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace osv
