// Fréchet distance between two Gaussians fitted to detector features, and the statistics it is
// computed from — in double precision, mergeable across shards, with its uncertainty.
//
//   FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1^1/2 S2 S1^1/2)
//
// The square-root trace uses two symmetric eigendecompositions (S1^1/2 from S1's, then the
// eigenvalues of the symmetric PSD matrix S1^1/2 S2 S1^1/2), clamping round-off negatives to 0,
// which stays exact when N < dimension and the covariances are singular.
#pragma once

#include <Eigen/Dense>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace osv {

enum class CovNormaliser { N, NMinus1 };  // StyleGAN-V/cd-fvd: N; TF-GAN/VideoGPT: N-1
CovNormaliser parse_cov_normaliser(const std::string& s);  // "N" | "N-1"
std::string cov_normaliser_name(CovNormaliser n);

// Running sums over feature vectors: count, sum x, sum x x^T (double). Memory is O(D^2),
// independent of the number of videos. Optionally keeps the features for the bootstrap.
class FrechetStats {
 public:
  explicit FrechetStats(int64_t dim = 0, bool keep_features = false);
  // features: rows = videos, row-major float or double data of `rows` x dim()
  void add(const float* features, int64_t rows);
  void add(const double* features, int64_t rows);
  void add(const Eigen::MatrixXd& rows);
  // Exact: counts and sums add; kept features are concatenated.
  void merge(const FrechetStats& other);

  int64_t dim() const { return dim_; }
  int64_t count() const { return count_; }
  Eigen::VectorXd mean() const;
  Eigen::MatrixXd covariance(CovNormaliser n) const;
  bool has_features() const { return keep_; }
  const Eigen::MatrixXd& features() const { return features_; }  // count x dim when kept

  // Provenance written with the statistics (detector id, weights sha256, preprocessing, ...).
  std::map<std::string, std::string> info;

  void save(const std::filesystem::path& path) const;
  static FrechetStats load(const std::filesystem::path& path);

 private:
  int64_t dim_ = 0;
  int64_t count_ = 0;
  bool keep_ = false;
  Eigen::VectorXd sum_;
  Eigen::MatrixXd sum_outer_;
  Eigen::MatrixXd features_;
};

double frechet_distance(const Eigen::VectorXd& mu1, const Eigen::MatrixXd& s1, const Eigen::VectorXd& mu2,
                        const Eigen::MatrixXd& s2);
double frechet_distance(const FrechetStats& a, const FrechetStats& b, CovNormaliser n);

struct FvdResult {
  double fvd = 0;
  int64_t n_real = 0, n_fake = 0;
  int64_t dim = 0;
  std::string normaliser;
  double mean_term = 0;      // |mu1 - mu2|^2
  double mean_bias = 0;      // tr S1 / N1 + tr S2 / N2: the expected mean term of two equal distributions
  std::optional<double> ci_low, ci_high;  // bootstrap percentile interval
  int bootstrap = 0;
  double confidence = 0.95;
  uint64_t bootstrap_seed = 0;
  std::optional<double> fd_inf;  // 1/N-extrapolated FD
  // Share of each set's total variance (sum of squared distances to its mean) carried by its 5%
  // most distant videos (needs features). Near 0.05-0.2 for well-behaved features; near 1 when
  // a few videos with huge features dominate the covariance — and with it the FVD and its CI.
  std::optional<double> real_tail_share, fake_tail_share;
};

// The tail share above for one set's features (rows = videos); 0 for fewer than 2 rows.
double tail_variance_share(const Eigen::MatrixXd& features, double fraction = 0.05);
// One line that warns when a set of at least 40 videos has a tail share above `threshold`;
// empty otherwise.
std::string heavy_tail_warning(const FvdResult& r, double threshold = 0.5);

// Largest feature dimension a statistics file may claim (I3D: 400 logits; 2048 pool features).
inline constexpr int64_t kMaxFeatureDim = 16384;

// FD-infinity fits FD over subsets of N/4 .. N videos: at least this many per set (InputError below).
inline constexpr int64_t kFdInfMinVideos = 8;

struct FvdOptions {
  CovNormaliser normaliser = CovNormaliser::N;
  int bootstrap = 0;  // resamples; needs features kept in both stats
  double confidence = 0.95;
  uint64_t seed = 0;
  bool fd_inf = false;  // extrapolate FD over N in {N/4..N} (needs features)
};

FvdResult compute_fvd(const FrechetStats& real, const FrechetStats& fake, const FvdOptions& options);

}  // namespace osv
