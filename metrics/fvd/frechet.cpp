#include "metrics/fvd/frechet.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <tuple>

#include "common/errors.h"
#include "models/safetensors.h"

namespace osv {

CovNormaliser parse_cov_normaliser(const std::string& s) {
  if (s == "N") return CovNormaliser::N;
  if (s == "N-1") return CovNormaliser::NMinus1;
  throw UsageError(fmt::format("covariance normaliser '{}': expected N or N-1", s));
}

std::string cov_normaliser_name(CovNormaliser n) { return n == CovNormaliser::N ? "N" : "N-1"; }

FrechetStats::FrechetStats(int64_t dim, bool keep_features) : dim_(dim), keep_(keep_features) {
  sum_ = Eigen::VectorXd::Zero(dim);
  sum_outer_ = Eigen::MatrixXd::Zero(dim, dim);
  features_.resize(0, dim);
}

void FrechetStats::add(const Eigen::MatrixXd& x) {
  if (x.cols() != dim_)
    throw std::invalid_argument(fmt::format("FrechetStats: features of dimension {} into statistics of {}", x.cols(), dim_));
  sum_ += x.colwise().sum().transpose();
  sum_outer_.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
  count_ += x.rows();
  if (keep_) {
    Eigen::MatrixXd grown(features_.rows() + x.rows(), dim_);
    grown << features_, x;
    features_.swap(grown);
  }
}

void FrechetStats::add(const double* features, int64_t rows) {
  add(Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(features, rows, dim_)
          .cast<double>()
          .eval());
}

void FrechetStats::add(const float* features, int64_t rows) {
  add(Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(features, rows, dim_)
          .cast<double>()
          .eval());
}

void FrechetStats::merge(const FrechetStats& o) {
  if (o.dim_ != dim_) throw InputError(fmt::format("cannot merge statistics of dimension {} and {}", dim_, o.dim_));
  sum_ += o.sum_;
  sum_outer_ += o.sum_outer_;
  count_ += o.count_;
  if (keep_ && o.keep_) {
    Eigen::MatrixXd grown(features_.rows() + o.features_.rows(), dim_);
    grown << features_, o.features_;
    features_.swap(grown);
  } else {
    keep_ = false;
    features_.resize(0, dim_);
  }
}

Eigen::VectorXd FrechetStats::mean() const {
  if (count_ == 0) throw InputError("FVD statistics hold no videos");
  return sum_ / static_cast<double>(count_);
}

Eigen::MatrixXd FrechetStats::covariance(CovNormaliser n) const {
  const double N = static_cast<double>(count_);
  const double denom = n == CovNormaliser::N ? N : N - 1.0;
  if (denom <= 0) throw InputError(fmt::format("FVD statistics of {} video(s) have no covariance", count_));
  Eigen::MatrixXd full = sum_outer_.selfadjointView<Eigen::Lower>();
  return (full - sum_ * sum_.transpose() / N) / denom;
}

namespace {

torch::Tensor to_torch(const Eigen::MatrixXd& m) {
  // Eigen is column-major; store row-major [rows, cols].
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> r = m;
  return torch::from_blob(r.data(), {r.rows(), r.cols()}, torch::kFloat64).clone();
}

Eigen::MatrixXd from_torch(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous();
  const int64_t rows = c.dim() >= 1 ? c.size(0) : 1, cols = c.dim() == 2 ? c.size(1) : 1;
  return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      c.data_ptr<double>(), rows, cols);
}

}  // namespace

void FrechetStats::save(const std::filesystem::path& path) const {
  Eigen::MatrixXd full = sum_outer_.selfadjointView<Eigen::Lower>();
  std::vector<std::pair<std::string, torch::Tensor>> t = {
      {"count", torch::tensor({count_}, torch::kInt64)},
      {"sum", to_torch(sum_).reshape({dim_})},
      {"sum_outer", to_torch(full)},
  };
  if (keep_) t.emplace_back("features", to_torch(features_));
  auto meta = info;
  meta["osvbench_fvd_stats"] = "1";
  save_safetensors(path, t, meta);
}

FrechetStats FrechetStats::load(const std::filesystem::path& path) {
  auto f = SafetensorsFile::open(path);
  if (!f.metadata().count("osvbench_fvd_stats") || !f.contains("sum") || !f.contains("sum_outer") || !f.contains("count"))
    throw InputError(fmt::format("{}: not an osvbench FVD statistics file", path.string()));
  // Shapes checked from the header before anything of size dim^2 is allocated: a hostile or broken
  // file must not make us allocate what it claims.
  auto shape = [&](const char* name) { return f.entry(name).shape; };
  auto shape_str = [&](const char* name) {
    std::string t;
    for (auto d : shape(name)) t += (t.empty() ? "" : ", ") + std::to_string(d);
    return "[" + t + "]";
  };
  if (shape("sum").size() != 1 || shape("sum")[0] < 1 || shape("sum")[0] > kMaxFeatureDim)
    throw InputError(fmt::format("{}: sum has shape {}; expected [dim] with 1 <= dim <= {}", path.string(),
                                 shape_str("sum"), kMaxFeatureDim));
  const int64_t dim = shape("sum")[0];
  if (shape("sum_outer") != std::vector<int64_t>{dim, dim})
    throw InputError(fmt::format("{}: sum_outer has shape {}; expected [{}, {}]", path.string(), shape_str("sum_outer"),
                                 dim, dim));
  if (shape("count").size() > 1 || (shape("count").size() == 1 && shape("count")[0] != 1))
    throw InputError(fmt::format("{}: count has shape {}; expected a scalar", path.string(), shape_str("count")));
  const int64_t count = f.tensor("count").reshape({-1})[0].item<int64_t>();
  if (count < 0) throw InputError(fmt::format("{}: negative count {}", path.string(), count));
  if (f.contains("features") && shape("features") != std::vector<int64_t>{count, dim})
    throw InputError(fmt::format("{}: features have shape {}; expected [{}, {}] (count, dim)", path.string(),
                                 shape_str("features"), count, dim));
  const auto sum = f.tensor("sum");
  FrechetStats s(dim, f.contains("features"));
  s.sum_ = from_torch(sum.reshape({-1, 1}));
  s.sum_outer_ = from_torch(f.tensor("sum_outer"));
  s.count_ = count;
  if (s.sum_outer_.rows() != s.dim_ || s.sum_outer_.cols() != s.dim_)
    throw InputError(fmt::format("{}: sum_outer is not {}x{}", path.string(), s.dim_, s.dim_));
  if (s.keep_) {
    s.features_ = from_torch(f.tensor("features"));
    if (s.features_.rows() != s.count_ || s.features_.cols() != s.dim_)
      throw InputError(fmt::format("{}: features do not match count {} and dimension {}", path.string(), s.count_, s.dim_));
  }
  for (const auto& [k, v] : f.metadata())
    if (k != "osvbench_fvd_stats") s.info[k] = v;
  return s;
}

double frechet_distance(const Eigen::VectorXd& mu1, const Eigen::MatrixXd& s1, const Eigen::VectorXd& mu2,
                        const Eigen::MatrixXd& s2) {
  if (mu1.size() != mu2.size() || s1.rows() != s2.rows() || s1.rows() != mu1.size())
    throw InputError(fmt::format("Fréchet distance between features of dimension {} and {}", mu1.size(), mu2.size()));
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> e1(s1);
  const Eigen::VectorXd d1 = e1.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  const Eigen::MatrixXd s1_half = e1.eigenvectors() * d1.asDiagonal() * e1.eigenvectors().transpose();
  Eigen::MatrixXd m = s1_half * s2 * s1_half;
  m = 0.5 * (m + m.transpose());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> em(m, Eigen::EigenvaluesOnly);
  const double tr_sqrt = em.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  return (mu1 - mu2).squaredNorm() + s1.trace() + s2.trace() - 2.0 * tr_sqrt;
}

double frechet_distance(const FrechetStats& a, const FrechetStats& b, CovNormaliser n) {
  return frechet_distance(a.mean(), a.covariance(n), b.mean(), b.covariance(n));
}

namespace {

// Mean and covariance of the rows of x weighted by integer counts w (a bootstrap resample).
void weighted_moments(const Eigen::MatrixXd& x, const Eigen::VectorXd& w, CovNormaliser n, Eigen::VectorXd& mu,
                      Eigen::MatrixXd& cov) {
  const double N = w.sum();
  mu = (x.transpose() * w) / N;
  const Eigen::MatrixXd xw = x.array().colwise() * w.array().sqrt();
  cov = xw.transpose() * xw - N * mu * mu.transpose();
  cov /= (n == CovNormaliser::N ? N : N - 1.0);
}

Eigen::VectorXd resample_counts(int64_t n, int64_t draws, std::mt19937_64& rng) {
  Eigen::VectorXd w = Eigen::VectorXd::Zero(n);
  std::uniform_int_distribution<int64_t> pick(0, n - 1);
  for (int64_t i = 0; i < draws; ++i) w[pick(rng)] += 1.0;
  return w;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace

double tail_variance_share(const Eigen::MatrixXd& x, double fraction) {
  if (x.rows() < 2) return 0.0;
  const Eigen::RowVectorXd mu = x.colwise().mean();
  std::vector<double> d(static_cast<std::size_t>(x.rows()));
  for (Eigen::Index i = 0; i < x.rows(); ++i) d[static_cast<std::size_t>(i)] = (x.row(i) - mu).squaredNorm();
  const double total = std::accumulate(d.begin(), d.end(), 0.0);
  if (total <= 0) return 0.0;
  const auto k = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(d.size()))));
  std::partial_sort(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(k), d.end(), std::greater<>());
  return std::accumulate(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(k), 0.0) / total;
}

std::string heavy_tail_warning(const FvdResult& r, double threshold) {
  std::string sets;
  // Below 40 videos the 5% is a single video and its share says little.
  for (const auto& [name, share, n] :
       {std::tuple{"real", r.real_tail_share, r.n_real}, std::tuple{"generated", r.fake_tail_share, r.n_fake}})
    if (share && n >= 40 && *share > threshold)
      sets += fmt::format("{}{} {:.0f}%", sets.empty() ? "" : ", ", name, 100 * *share);
  if (sets.empty()) return {};
  return fmt::format("warning: heavy-tailed detector features — the 5% most distant videos carry {} of their set's "
                     "variance; the FVD is dominated by those few videos and its CI is wide",
                     sets);
}

FvdResult compute_fvd(const FrechetStats& real, const FrechetStats& fake, const FvdOptions& o) {
  FvdResult r;
  r.n_real = real.count();
  r.n_fake = fake.count();
  r.dim = real.dim();
  r.normaliser = cov_normaliser_name(o.normaliser);
  // A covariance needs two videos (N-1 normaliser: division by zero below that).
  if (r.n_real < 2 || r.n_fake < 2)
    throw InputError(fmt::format("FVD needs at least 2 videos per set, got {} real and {} generated", r.n_real,
                                 r.n_fake));
  const auto mu1 = real.mean(), mu2 = fake.mean();
  const auto s1 = real.covariance(o.normaliser), s2 = fake.covariance(o.normaliser);
  r.fvd = frechet_distance(mu1, s1, mu2, s2);
  r.mean_term = (mu1 - mu2).squaredNorm();
  r.mean_bias = s1.trace() / static_cast<double>(r.n_real) + s2.trace() / static_cast<double>(r.n_fake);
  const bool have_features = real.has_features() && fake.has_features();
  if (real.has_features()) r.real_tail_share = tail_variance_share(real.features());
  if (fake.has_features()) r.fake_tail_share = tail_variance_share(fake.features());
  if (o.bootstrap > 0) {
    if (!have_features) throw UsageError("a bootstrap interval needs per-video features in both statistics");
    std::mt19937_64 rng(o.seed);
    std::vector<double> fds;
    Eigen::VectorXd m1, m2;
    Eigen::MatrixXd c1, c2;
    for (int b = 0; b < o.bootstrap; ++b) {
      weighted_moments(real.features(), resample_counts(r.n_real, r.n_real, rng), o.normaliser, m1, c1);
      weighted_moments(fake.features(), resample_counts(r.n_fake, r.n_fake, rng), o.normaliser, m2, c2);
      fds.push_back(frechet_distance(m1, c1, m2, c2));
    }
    const double alpha = (1.0 - o.confidence) / 2.0;
    r.ci_low = percentile(fds, alpha);
    r.ci_high = percentile(fds, 1.0 - alpha);
    r.bootstrap = o.bootstrap;
    r.confidence = o.confidence;
    r.bootstrap_seed = o.seed;
  }
  if (o.fd_inf) {
    if (!have_features) throw UsageError("FD-infinity needs per-video features in both statistics");
    // Six subset sizes from N/4 to N, each of at least 2 videos and not all equal: N >= 8.
    if (r.n_real < kFdInfMinVideos || r.n_fake < kFdInfMinVideos)
      throw InputError(fmt::format("FD-infinity extrapolates over subsets of N/4 .. N videos and needs at least {} "
                                   "per set, got {} real and {} generated",
                                   kFdInfMinVideos, r.n_real, r.n_fake));
    // FD_N = FD_inf + k / N: fit over subsets of 1/4 .. 1 of the videos, take the intercept.
    std::mt19937_64 rng(o.seed + 1);
    std::vector<double> xs, ys;
    for (double frac : {0.25, 0.4, 0.55, 0.7, 0.85, 1.0}) {
      auto subset = [&](const FrechetStats& s) {
        std::vector<int64_t> idx(static_cast<std::size_t>(s.count()));
        std::iota(idx.begin(), idx.end(), 0);
        std::shuffle(idx.begin(), idx.end(), rng);
        const auto k = std::clamp<int64_t>(static_cast<int64_t>(frac * static_cast<double>(s.count())), 2, s.count());
        Eigen::VectorXd w = Eigen::VectorXd::Zero(s.count());
        for (int64_t i = 0; i < k; ++i) w[idx[static_cast<std::size_t>(i)]] = 1.0;
        return std::pair{w, k};
      };
      auto [w1, k1] = subset(real);
      auto [w2, k2] = subset(fake);
      Eigen::VectorXd m1, m2;
      Eigen::MatrixXd c1, c2;
      weighted_moments(real.features(), w1, o.normaliser, m1, c1);
      weighted_moments(fake.features(), w2, o.normaliser, m2, c2);
      xs.push_back(1.0 / static_cast<double>(std::min(k1, k2)));
      ys.push_back(frechet_distance(m1, c1, m2, c2));
    }
    const double n = static_cast<double>(xs.size());
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      sx += xs[i];
      sy += ys[i];
      sxx += xs[i] * xs[i];
      sxy += xs[i] * ys[i];
    }
    const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    r.fd_inf = (sy - slope * sx) / n;
    if (!std::isfinite(*r.fd_inf)) throw InputError("FD-infinity: the 1/N fit is degenerate (non-finite intercept)");
  }
  return r;
}

}  // namespace osv
