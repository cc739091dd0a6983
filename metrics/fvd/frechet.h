// Fréchet distance between two Gaussians fitted to detector features, and the statistics it is
// computed from — in double precision, mergeable across shards, with its uncertainty.
//
//   FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1^1/2 S2 S1^1/2)
//
// tr sqrt(S1 S2) goes through LAPACK in double (torch::linalg, multi-threaded):
//   - with S1 = L L^T (Cholesky), the eigenvalues of the symmetric PSD matrix L^T S2 L are those
//     of S1 S2: one Cholesky and one eigenvalues-only decomposition;
//   - when S1 is singular (Cholesky fails), S1^1/2 from S1's eigendecomposition instead;
//   - when both sets have fewer videos than dimensions and the features are kept, the N x N form:
//     with A, B the centred feature rows, tr sqrt(S1 S2) = ||A B^T||_* / sqrt(d1 d2) (the nuclear
//     norm: the sum of singular values), exact for the singular covariances such sets have and
//     cheap to resample from the Gram matrices (the bootstrap never forms a D x D matrix).
// Round-off negatives are clamped to 0.
//
// Uncertainty: FD_N is biased upward (by far more than its mean term when N is not much larger
// than the dimension) and a bootstrap resample adds a bias again, so the plain percentile interval
// of the resampled FDs sits above the estimate and need not contain it. Reported instead, from the
// same resamples:
//   se    the bootstrap standard deviation of FD;
//   bias  mean(FD*) - FD, the bootstrap estimate of E[FD_N] - FD_inf (the total bias, not only the
//         mean term's; it underestimates it when N is near or below the dimension);
//   ci    the interval for E[FD_N] (the expected FVD at this N: what two FVDs at equal N
//         compare), the reverse-percentile interval of FD* - mean(FD*) about FD:
//         [FD - (q_hi - mean*), FD + (mean* - q_lo)].
// Measured on 400-d Gaussians (tests/unit/test_fvd_interval.cpp) the interval covers E[FD_N] and
// is conservative: the bootstrap se is several times the true standard deviation of FD_N, since
// the number of distinct videos in a resample moves its bias.
#pragma once

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace osv {

enum class CovNormaliser { N, NMinus1 };  // StyleGAN-V/cd-fvd: N; TF-GAN/VideoGPT: N-1
CovNormaliser parse_cov_normaliser(const std::string& s);  // "N" | "N-1"
std::string cov_normaliser_name(CovNormaliser n);

// Running sums over feature vectors: count, sum x, sum x x^T (double). Memory is O(D^2),
// independent of the number of videos. Optionally keeps the features for the bootstrap.
class FrechetStats {
 public:
  // Kept features are stored in chunks of this many rows (row-major): where the Fréchet distance's
  // resampling reads them a chunk at a time, and the chunk boundaries depend only on the row order
  // (so statistics merged from shards hold the same chunks as one pass over the same rows).
  static constexpr int64_t kChunkRows = 256;

  explicit FrechetStats(int64_t dim = 0, bool keep_features = false);
  // features: rows = videos, row-major float or double data of `rows` x dim(). Float rows (a
  // detector's output) are kept as float: exact, at half the memory of double; once any double row
  // is added, all kept rows are double.
  void add(const float* features, int64_t rows);
  void add(const double* features, int64_t rows);
  void add(const Eigen::MatrixXd& rows);
  // Exact: counts and sums add; kept features are appended.
  void merge(const FrechetStats& other);

  int64_t dim() const { return dim_; }
  int64_t count() const { return count_; }
  Eigen::VectorXd mean() const;
  Eigen::MatrixXd covariance(CovNormaliser n) const;
  bool has_features() const { return keep_; }
  // A double copy [count, dim] of the kept features (count x dim doubles: for tests and small sets;
  // the distance and its bootstrap read the chunks in place).
  Eigen::MatrixXd features() const;
  // Kept features, chunk i of feature_chunks(): a [rows, dim] view (float32 or float64, no copy;
  // valid until the next add or merge). Every chunk but the last has kChunkRows rows.
  int64_t feature_chunks() const;
  at::Tensor feature_chunk(int64_t i) const;
  bool features_are_double() const { return double_; }

  // Provenance written with the statistics (detector id, weights sha256, preprocessing, ...).
  std::map<std::string, std::string> info;

  void save(const std::filesystem::path& path) const;
  static FrechetStats load(const std::filesystem::path& path);

 private:
  template <class T>
  void keep_rows(const T* rows, int64_t n, int64_t held);
  void add_sums(const Eigen::MatrixXd& rows);

  int64_t dim_ = 0;
  int64_t count_ = 0;
  bool keep_ = false;
  Eigen::VectorXd sum_;
  Eigen::MatrixXd sum_outer_;
  // The kept rows: chunks of kChunkRows x dim row-major values, in f32_ while every row added was
  // float, in f64_ (f32_ empty) once one was double.
  bool double_ = false;
  std::vector<std::vector<float>> f32_;
  std::vector<std::vector<double>> f64_;
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
  // tr S1 / N1 + tr S2 / N2: the expected mean term of two equal distributions — only the mean
  // term's share of FD's bias (the covariance term's is usually far larger; see `bias`).
  double mean_bias = 0;
  std::optional<double> se;               // bootstrap standard error of FD
  std::optional<double> bias;             // bootstrap estimate of E[FD_N] - FD_inf
  std::optional<double> ci_low, ci_high;  // interval for E[FD_N] (see the header comment)
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
// The same over a set's kept features, read in place (its mean from the running sums).
double tail_variance_share(const FrechetStats& stats, double fraction = 0.05);
// One line that warns when a set of at least 40 videos has a tail share above `threshold`;
// empty otherwise.
std::string heavy_tail_warning(const FvdResult& r, double threshold = 0.5);

// Largest feature dimension a statistics file may claim (I3D: 400 logits; 2048 pool features).
inline constexpr int64_t kMaxFeatureDim = 16384;

// FD-infinity fits FD over subsets of N/4 .. N videos: at least this many per set (InputError below).
inline constexpr int64_t kFdInfMinVideos = 8;

// The name results carry for the interval above ("ci.interval").
inline constexpr const char* kFvdIntervalMethod = "reverse_percentile_about_bootstrap_mean";

// What the resampled FDs give, computed from the point estimate and the draws.
struct BootstrapSummary {
  double se = 0, bias = 0;
  double low = 0, high = 0;          // interval for E[FD_N]
  double pct_low = 0, pct_high = 0;  // the plain percentile interval (kept to show it fails)
};
BootstrapSummary summarise_bootstrap(double fd, std::vector<double> draws, double confidence);

// FD of `resamples` bootstrap resamples (each set drawn with replacement to its own size, seeded).
// Needs per-video features in both statistics.
std::vector<double> bootstrap_fds(const FrechetStats& real, const FrechetStats& fake, CovNormaliser n,
                                  int resamples, uint64_t seed);

// FD computed from the kept features (the N x N form when both sets are smaller than the
// dimension, else the covariance form); equals frechet_distance(a, b, n) to round-off.
double frechet_distance_from_features(const FrechetStats& a, const FrechetStats& b, CovNormaliser n);

struct FvdOptions {
  CovNormaliser normaliser = CovNormaliser::N;
  int bootstrap = 0;  // resamples; needs features kept in both stats
  double confidence = 0.95;
  uint64_t seed = 0;
  bool fd_inf = false;  // extrapolate FD over N in {N/4..N} (needs features)
};

FvdResult compute_fvd(const FrechetStats& real, const FrechetStats& fake, const FvdOptions& options);

// The "ci" object results carry (needs a bootstrap): low, high, confidence, bootstrap, seed, se,
// bias, interval (kFvdIntervalMethod), target ("E[FVD_N]").
nlohmann::json ci_json(const FvdResult& r);

}  // namespace osv
