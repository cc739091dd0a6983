#include "metrics/fvd/frechet.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <tuple>
#include <type_traits>

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
}

void FrechetStats::add_sums(const Eigen::MatrixXd& x) {
  if (x.cols() != dim_)
    throw std::invalid_argument(fmt::format("FrechetStats: features of dimension {} into statistics of {}", x.cols(), dim_));
  sum_ += x.colwise().sum().transpose();
  sum_outer_.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
  count_ += x.rows();
}

namespace {

// Appends n row-major rows of dim values to chunks of FrechetStats::kChunkRows rows; `held` is the
// number of rows the chunks hold before.
template <class S, class T>
void append_rows(std::vector<std::vector<S>>& chunks, int64_t held, int64_t dim, const T* src, int64_t n) {
  constexpr int64_t K = FrechetStats::kChunkRows;
  while (n > 0) {
    if (held % K == 0) {
      chunks.emplace_back();
      chunks.back().reserve(static_cast<std::size_t>(K * dim));
    }
    const int64_t take = std::min(n, K - held % K);
    auto& c = chunks.back();
    c.insert(c.end(), src, src + take * dim);
    held += take;
    src += take * dim;
    n -= take;
  }
}

}  // namespace

// `held`: the rows kept before these.
template <class T>
void FrechetStats::keep_rows(const T* rows, int64_t n, int64_t held) {
  if (!keep_ || n == 0) return;
  if constexpr (std::is_same_v<T, double>) {
    if (!double_) {  // the rows held so far become double (exact)
      for (const auto& c : f32_) f64_.emplace_back(c.begin(), c.end());
      if (!f64_.empty()) f64_.back().reserve(static_cast<std::size_t>(kChunkRows * dim_));  // the one still filling
      f32_.clear();
      double_ = true;
    }
  }
  if (double_)
    append_rows(f64_, held, dim_, rows, n);
  else
    append_rows(f32_, held, dim_, rows, n);
}

void FrechetStats::add(const Eigen::MatrixXd& x) {
  add_sums(x);  // checks the dimension first
  if (!keep_) return;
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> r = x;
  keep_rows(r.data(), r.rows(), count_ - r.rows());
}

void FrechetStats::add(const double* features, int64_t rows) {
  const Eigen::MatrixXd x =
      Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(features, rows, dim_);
  add_sums(x);
  keep_rows(features, rows, count_ - rows);
}

void FrechetStats::add(const float* features, int64_t rows) {
  const Eigen::MatrixXd x =
      Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(features, rows, dim_)
          .cast<double>();
  add_sums(x);
  keep_rows(features, rows, count_ - rows);
}

int64_t FrechetStats::feature_chunks() const {
  return static_cast<int64_t>(double_ ? f64_.size() : f32_.size());
}

at::Tensor FrechetStats::feature_chunk(int64_t i) const {
  if (i < 0 || i >= feature_chunks())
    throw std::out_of_range(fmt::format("FrechetStats::feature_chunk {} of {}", i, feature_chunks()));
  const auto u = static_cast<std::size_t>(i);
  if (double_)
    return torch::from_blob(const_cast<double*>(f64_[u].data()),
                            {static_cast<int64_t>(f64_[u].size()) / std::max<int64_t>(dim_, 1), dim_}, torch::kFloat64);
  return torch::from_blob(const_cast<float*>(f32_[u].data()),
                          {static_cast<int64_t>(f32_[u].size()) / std::max<int64_t>(dim_, 1), dim_}, torch::kFloat32);
}

Eigen::MatrixXd FrechetStats::features() const {
  Eigen::MatrixXd out(keep_ ? count_ : 0, dim_);
  Eigen::Index at = 0;
  auto copy = [&](const auto& chunks) {
    for (const auto& c : chunks) {
      const Eigen::Index rows = static_cast<Eigen::Index>(c.size()) / std::max<Eigen::Index>(dim_, 1);
      using T = typename std::decay_t<decltype(c)>::value_type;
      out.middleRows(at, rows) =
          Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(c.data(), rows, dim_)
              .template cast<double>();
      at += rows;
    }
  };
  if (double_)
    copy(f64_);
  else
    copy(f32_);
  return out;
}

void FrechetStats::merge(const FrechetStats& o) {
  if (o.dim_ != dim_) throw InputError(fmt::format("cannot merge statistics of dimension {} and {}", dim_, o.dim_));
  if (&o == this) {  // appending its own chunks while reading them
    const FrechetStats copy = o;
    merge(copy);
    return;
  }
  if (keep_ && o.keep_) {
    int64_t held = count_;
    auto append = [&](const auto& chunks) {
      for (const auto& c : chunks) {
        const auto rows = static_cast<int64_t>(c.size()) / dim_;
        keep_rows(c.data(), rows, held);
        held += rows;
      }
    };
    append(o.f64_);
    append(o.f32_);
  } else {
    keep_ = false;
    double_ = false;
    f32_.clear();
    f64_.clear();
  }
  sum_ += o.sum_;
  sum_outer_ += o.sum_outer_;
  count_ += o.count_;
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
  if (keep_) {  // in the dtype they are kept in
    std::vector<torch::Tensor> chunks;
    for (int64_t i = 0; i < feature_chunks(); ++i) chunks.push_back(feature_chunk(i));
    t.emplace_back("features", chunks.empty() ? torch::empty({0, dim_}, double_ ? torch::kFloat64 : torch::kFloat32)
                                              : torch::cat(chunks));
  }
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
  if (s.sum_outer_.rows() != s.dim_ || s.sum_outer_.cols() != s.dim_)
    throw InputError(fmt::format("{}: sum_outer is not {}x{}", path.string(), s.dim_, s.dim_));
  if (s.keep_) {  // kept as stored: float32 or float64 (anything else as float64)
    auto x = f.tensor("features");
    if (x.scalar_type() == torch::kFloat32) {
      x = x.contiguous();
      s.keep_rows(x.data_ptr<float>(), count, 0);
    } else {
      x = x.to(torch::kFloat64).contiguous();
      s.keep_rows(x.data_ptr<double>(), count, 0);
    }
  }
  s.count_ = count;
  for (const auto& [k, v] : f.metadata())
    if (k != "osvbench_fvd_stats") s.info[k] = v;
  return s;
}

namespace {

// tr sqrt(S1 S2) for symmetric PSD S1, S2 [D, D] (double).
double trace_sqrt_product(const torch::Tensor& s1, const torch::Tensor& s2) {
  auto [l, info] = torch::linalg_cholesky_ex(s1);
  torch::Tensor m;
  if (info.item<int64_t>() == 0) {
    m = l.t().matmul(s2).matmul(l);  // L^T S2 L: similar to S1 S2 (S1 = L L^T)
  } else {                           // singular S1: S1^1/2 S2 S1^1/2
    auto [evals, evecs] = torch::linalg_eigh(s1);
    const auto half = (evecs * evals.clamp_min(0).sqrt().unsqueeze(0)).matmul(evecs.t());
    m = half.matmul(s2).matmul(half);
  }
  m = 0.5 * (m + m.t());
  return torch::linalg_eigvalsh(m).clamp_min(0).sqrt().sum().item<double>();
}

// All kept rows of a set as one row-major double tensor [count, dim] (a copy).
torch::Tensor feature_rows(const FrechetStats& s) {
  std::vector<torch::Tensor> chunks;
  for (int64_t i = 0; i < s.feature_chunks(); ++i) chunks.push_back(s.feature_chunk(i).to(torch::kFloat64));
  return chunks.empty() ? torch::empty({0, s.dim()}, torch::kFloat64) : torch::cat(chunks);
}

torch::Tensor mean_of(const FrechetStats& s) { return to_torch(s.mean()).reshape({s.dim()}); }

// FD of weighted subsets of two feature sets (weights = integer counts: a bootstrap resample,
// or 0/1: a subset). Precomputes what every resample shares; the N x N form when both sets are
// smaller than the dimension.
class WeightedFd {
 public:
  // Reads the kept features of a and b in place when N >= D: they must outlive this object.
  WeightedFd(const FrechetStats& a, const FrechetStats& b, CovNormaliser n) : n_(n) {
    gram_ = a.count() < a.dim() && b.count() < b.dim();
    if (!gram_) {
      // The covariance form reads the rows where the statistics keep them, a chunk at a time
      // (centred per chunk): no copy of the N x D features.
      x1_ = &a;
      x2_ = &b;
      m1_ = mean_of(a);
      m2_ = mean_of(b);
      dm_ = m1_ - m2_;
      return;
    }
    // One row-major copy of each feature set (N < D: smaller than D x D), centred in place.
    a_ = feature_rows(a);
    b_ = feature_rows(b);
    const auto m1 = a_.mean(0), m2 = b_.mean(0);
    a_.sub_(m1);
    b_.sub_(m2);
    dm_ = m1 - m2;
    g11_ = a_.matmul(a_.t());
    g22_ = b_.matmul(b_.t());
    g12_ = a_.matmul(b_.t());
    v1_ = a_.matmul(dm_);
    v2_ = b_.matmul(dm_);
    dm2_ = dm_.dot(dm_).item<double>();
  }

  bool gram() const { return gram_; }

  // w1: double [N1], w2: double [N2]
  double operator()(const torch::Tensor& w1, const torch::Tensor& w2) const {
    const double n1 = w1.sum().item<double>(), n2 = w2.sum().item<double>();
    const double d1 = n_ == CovNormaliser::N ? n1 : n1 - 1.0, d2 = n_ == CovNormaliser::N ? n2 : n2 - 1.0;
    if (d1 <= 0 || d2 <= 0) throw InputError("a Fréchet distance needs at least 2 videos per set");
    if (!gram_) {
      auto moments = [&](const FrechetStats& all, const torch::Tensor& mean, const torch::Tensor& weights, double n,
                         double d) {
        // A chunk of rows at a time (the working set is a chunk, not a copy of all N rows); rows of
        // weight 0 (a third of a bootstrap resample) dropped before the products.
        const int64_t D = all.dim();
        auto sum = torch::zeros({D}, torch::kFloat64), outer = torch::zeros({D, D}, torch::kFloat64);
        for (int64_t i = 0, b = 0; i < all.feature_chunks(); ++i) {
          const auto chunk = all.feature_chunk(i);
          const int64_t e = b + chunk.size(0);
          const auto wb = weights.slice(0, b, e);
          const auto keep = wb.nonzero().squeeze(1);
          const auto x = chunk.index_select(0, keep).to(torch::kFloat64) - mean, w = wb.index_select(0, keep);
          sum.add_(x.t().matmul(w));
          outer.add_((x * w.unsqueeze(1)).t().matmul(x));
          b = e;
        }
        const auto delta = sum / n;  // [D]: resampled mean minus the full mean
        auto cov = outer - n * torch::outer(delta, delta);
        return std::pair{delta, cov / d};
      };
      const auto [delta1, c1] = moments(*x1_, m1_, w1, n1, d1);
      const auto [delta2, c2] = moments(*x2_, m2_, w2, n2, d2);
      const auto mu = dm_ + delta1 - delta2;
      return mu.dot(mu).item<double>() + c1.trace().item<double>() + c2.trace().item<double>() -
             2.0 * trace_sqrt_product(c1, c2);
    }
    // Everything from the Gram matrices of the centred rows: delta_i = X_i^T w_i / n_i.
    const auto t12 = g12_.matmul(w2), t21 = g12_.t().matmul(w1);  // G12 w2 [N1], G12^T w1 [N2]
    const double q11 = w1.dot(g11_.matmul(w1)).item<double>() / (n1 * n1);  // |delta1|^2
    const double q22 = w2.dot(g22_.matmul(w2)).item<double>() / (n2 * n2);
    const double q12 = w1.dot(t12).item<double>() / (n1 * n2);  // delta1 . delta2
    const double mean_term =
        dm2_ + 2.0 * v1_.dot(w1).item<double>() / n1 - 2.0 * v2_.dot(w2).item<double>() / n2 + q11 + q22 - 2.0 * q12;
    const double tr1 = (w1.dot(g11_.diagonal()).item<double>() - n1 * q11) / d1;
    const double tr2 = (w2.dot(g22_.diagonal()).item<double>() - n2 * q22) / d2;
    // C = diag(sqrt w1) (X1 - 1 mu1*^T)(X2 - 1 mu2*^T)^T diag(sqrt w2), rows and columns of weight 0
    // dropped; tr sqrt(S1* S2*) = ||C||_* / sqrt(d1 d2).
    const auto i1 = w1.nonzero().squeeze(1), i2 = w2.nonzero().squeeze(1);
    auto c = g12_.index_select(0, i1).index_select(1, i2) - (t12.index_select(0, i1) / n2).unsqueeze(1) -
             (t21.index_select(0, i2) / n1).unsqueeze(0) + q12;
    c = c * w1.index_select(0, i1).sqrt().unsqueeze(1) * w2.index_select(0, i2).sqrt().unsqueeze(0);
    const double tr_sqrt = torch::linalg_svdvals(c).sum().item<double>() / std::sqrt(d1 * d2);
    return mean_term + tr1 + tr2 - 2.0 * tr_sqrt;
  }

 private:
  CovNormaliser n_;
  bool gram_ = false;
  // Gram form: centred rows [N1, D], [N2, D]; covariance form: the two statistics (their kept
  // features read in place) and their means m1_, m2_ [D]. dm_ = m1 - m2 [D].
  const FrechetStats *x1_ = nullptr, *x2_ = nullptr;
  torch::Tensor a_, b_, m1_, m2_, dm_;
  torch::Tensor g11_, g22_, g12_, v1_, v2_;  // Gram matrices; centred rows . (m1 - m2)
  double dm2_ = 0;
};

torch::Tensor ones(int64_t n) { return torch::ones({n}, torch::kFloat64); }

torch::Tensor resample_counts(int64_t n, std::mt19937_64& rng) {
  auto w = torch::zeros({n}, torch::kFloat64);
  auto* p = w.data_ptr<double>();
  std::uniform_int_distribution<int64_t> pick(0, n - 1);
  for (int64_t i = 0; i < n; ++i) p[pick(rng)] += 1.0;
  return w;
}

double percentile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

// FD of `resamples` bootstrap resamples, each set drawn with replacement to its own size.
std::vector<double> resampled_fds(const WeightedFd& fd, int64_t n1, int64_t n2, int resamples, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(std::max(resamples, 0)));
  for (int b = 0; b < resamples; ++b) {
    const auto w1 = resample_counts(n1, rng);
    const auto w2 = resample_counts(n2, rng);
    out.push_back(fd(w1, w2));
  }
  return out;
}

void require_features(const FrechetStats& a, const FrechetStats& b, const char* what) {
  if (!a.has_features() || !b.has_features())
    throw UsageError(fmt::format("{} needs per-video features in both statistics", what));
}

}  // namespace

double frechet_distance(const Eigen::VectorXd& mu1, const Eigen::MatrixXd& s1, const Eigen::VectorXd& mu2,
                        const Eigen::MatrixXd& s2) {
  if (mu1.size() != mu2.size() || s1.rows() != s2.rows() || s1.rows() != mu1.size())
    throw InputError(fmt::format("Fréchet distance between features of dimension {} and {}", mu1.size(), mu2.size()));
  return (mu1 - mu2).squaredNorm() + s1.trace() + s2.trace() - 2.0 * trace_sqrt_product(to_torch(s1), to_torch(s2));
}

double frechet_distance(const FrechetStats& a, const FrechetStats& b, CovNormaliser n) {
  return frechet_distance(a.mean(), a.covariance(n), b.mean(), b.covariance(n));
}

double frechet_distance_from_features(const FrechetStats& a, const FrechetStats& b, CovNormaliser n) {
  require_features(a, b, "a Fréchet distance from features");
  return WeightedFd(a, b, n)(ones(a.count()), ones(b.count()));
}

std::vector<double> bootstrap_fds(const FrechetStats& real, const FrechetStats& fake, CovNormaliser n,
                                  int resamples, uint64_t seed) {
  require_features(real, fake, "a bootstrap interval");
  return resampled_fds(WeightedFd(real, fake, n), real.count(), fake.count(), resamples, seed);
}

BootstrapSummary summarise_bootstrap(double fd, std::vector<double> draws, double confidence) {
  if (draws.size() < 2) throw UsageError("a bootstrap summary needs at least 2 resamples");
  std::sort(draws.begin(), draws.end());
  const double n = static_cast<double>(draws.size());
  const double mean = std::accumulate(draws.begin(), draws.end(), 0.0) / n;
  double ss = 0;
  for (double d : draws) ss += (d - mean) * (d - mean);
  const double alpha = (1.0 - confidence) / 2.0;
  const double qlo = percentile(draws, alpha), qhi = percentile(draws, 1.0 - alpha);
  BootstrapSummary s;
  s.se = std::sqrt(ss / (n - 1.0));
  s.bias = mean - fd;
  s.low = fd - (qhi - mean);
  s.high = fd + (mean - qlo);
  s.pct_low = qlo;
  s.pct_high = qhi;
  return s;
}

namespace {

// The share of sum(d) carried by its largest ceil(fraction * n) values.
double tail_share_of(std::vector<double> d, double fraction) {
  const double total = std::accumulate(d.begin(), d.end(), 0.0);
  if (total <= 0) return 0.0;
  const auto k = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(d.size()))));
  std::partial_sort(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(k), d.end(), std::greater<>());
  return std::accumulate(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(k), 0.0) / total;
}

}  // namespace

double tail_variance_share(const Eigen::MatrixXd& x, double fraction) {
  if (x.rows() < 2) return 0.0;
  const Eigen::RowVectorXd mu = x.colwise().mean();
  std::vector<double> d(static_cast<std::size_t>(x.rows()));
  for (Eigen::Index i = 0; i < x.rows(); ++i) d[static_cast<std::size_t>(i)] = (x.row(i) - mu).squaredNorm();
  return tail_share_of(std::move(d), fraction);
}

double tail_variance_share(const FrechetStats& s, double fraction) {
  if (!s.has_features() || s.count() < 2) return 0.0;
  const auto mu = mean_of(s);
  std::vector<double> d;
  d.reserve(static_cast<std::size_t>(s.count()));
  for (int64_t i = 0; i < s.feature_chunks(); ++i) {
    const auto di = (s.feature_chunk(i).to(torch::kFloat64) - mu).square().sum(1).contiguous();
    d.insert(d.end(), di.data_ptr<double>(), di.data_ptr<double>() + di.numel());
  }
  return tail_share_of(std::move(d), fraction);
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

nlohmann::json ci_json(const FvdResult& r) {
  if (!r.ci_low || !r.se || !r.bias) throw std::logic_error("ci_json: the result has no bootstrap interval");
  return {{"low", *r.ci_low},     {"high", *r.ci_high}, {"confidence", r.confidence}, {"bootstrap", r.bootstrap},
          {"seed", r.bootstrap_seed}, {"se", *r.se},      {"bias", *r.bias},             {"interval", kFvdIntervalMethod},
          {"target", "E[FVD_N]"}};
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
  const bool have_features = real.has_features() && fake.has_features();
  std::optional<WeightedFd> weighted;
  if (have_features && (o.bootstrap > 0 || o.fd_inf || (r.n_real < r.dim && r.n_fake < r.dim)))
    weighted.emplace(real, fake, o.normaliser);
  // Fewer videos than dimensions: the N x N form, exact for the singular covariances.
  r.fvd = weighted && weighted->gram() ? (*weighted)(ones(r.n_real), ones(r.n_fake))
                                       : frechet_distance(mu1, s1, mu2, s2);
  r.mean_term = (mu1 - mu2).squaredNorm();
  r.mean_bias = s1.trace() / static_cast<double>(r.n_real) + s2.trace() / static_cast<double>(r.n_fake);
  if (real.has_features()) r.real_tail_share = tail_variance_share(real);
  if (fake.has_features()) r.fake_tail_share = tail_variance_share(fake);
  if (o.bootstrap > 0) {
    if (!have_features) throw UsageError("a bootstrap interval needs per-video features in both statistics");
    const auto s =
        summarise_bootstrap(r.fvd, resampled_fds(*weighted, r.n_real, r.n_fake, o.bootstrap, o.seed), o.confidence);
    r.se = s.se;
    r.bias = s.bias;
    r.ci_low = s.low;
    r.ci_high = s.high;
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
      auto subset = [&](int64_t count) {
        std::vector<int64_t> idx(static_cast<std::size_t>(count));
        std::iota(idx.begin(), idx.end(), 0);
        std::shuffle(idx.begin(), idx.end(), rng);
        const auto k = std::clamp<int64_t>(static_cast<int64_t>(frac * static_cast<double>(count)), 2, count);
        auto w = torch::zeros({count}, torch::kFloat64);
        for (int64_t i = 0; i < k; ++i) w[idx[static_cast<std::size_t>(i)]] = 1.0;
        return std::pair{w, k};
      };
      auto [w1, k1] = subset(r.n_real);
      auto [w2, k2] = subset(r.n_fake);
      xs.push_back(1.0 / static_cast<double>(std::min(k1, k2)));
      ys.push_back((*weighted)(w1, w2));
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
