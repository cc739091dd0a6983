// FVD statistics and the Fréchet distance: analytic cases, save/load/merge, bootstrap, bias.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <filesystem>
#include <random>

#include <torch/torch.h>

#include "common/errors.h"
#include "metrics/fvd/frechet.h"
#include "metrics/fvd/video_stats.h"
#include "models/safetensors.h"

namespace osv {
namespace {

Eigen::MatrixXd gaussian(int64_t n, int64_t d, double shift, double scale, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  Eigen::MatrixXd x(n, d);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) x(i, j) = shift + scale * g(rng);
  return x;
}

TEST(Frechet, AnalyticCases) {
  // Identical Gaussians: 0. Diagonal covariances: sum (m1-m2)^2 + (s1 - s2)^2 per dimension.
  Eigen::VectorXd mu1(2), mu2(2);
  mu1 << 0, 1;
  mu2 << 3, 1;
  Eigen::MatrixXd s1 = Eigen::Vector2d(4, 9).asDiagonal(), s2 = Eigen::Vector2d(1, 9).asDiagonal();
  EXPECT_NEAR(frechet_distance(mu1, s1, mu1, s1), 0.0, 1e-12);
  EXPECT_NEAR(frechet_distance(mu1, s1, mu2, s2), 9.0 + (2.0 - 1.0) * (2.0 - 1.0), 1e-12);
  // A zero covariance (N = 1 video) is singular but fine.
  EXPECT_NEAR(frechet_distance(mu1, Eigen::MatrixXd::Zero(2, 2), mu2, s2), 9.0 + 1.0 + 9.0, 1e-12);
}

TEST(Frechet, NormaliserChangesTheCovariance) {
  FrechetStats s(3);
  s.add(gaussian(10, 3, 0, 1, 1));
  const auto a = s.covariance(CovNormaliser::N), b = s.covariance(CovNormaliser::NMinus1);
  EXPECT_NEAR((b * 9.0 / 10.0 - a).cwiseAbs().maxCoeff(), 0.0, 1e-12);
  EXPECT_EQ(parse_cov_normaliser("N-1"), CovNormaliser::NMinus1);
}

TEST(Frechet, SaveLoadAndMergeAreExact) {
  const auto dir = std::filesystem::temp_directory_path() / "osvbench_test_frechet";
  std::filesystem::create_directories(dir);
  const auto x = gaussian(50, 8, 1, 2, 7);
  FrechetStats whole(8, true), a(8, true), b(8, true);
  whole.add(x);
  a.add(Eigen::MatrixXd(x.topRows(20)));
  b.add(Eigen::MatrixXd(x.bottomRows(30)));
  a.info["detector"] = "i3d";
  a.save(dir / "a.safetensors");
  b.save(dir / "b.safetensors");
  auto la = FrechetStats::load(dir / "a.safetensors");
  EXPECT_EQ(la.info.at("detector"), "i3d");
  EXPECT_EQ(la.mean(), a.mean());  // save/load is bit-exact
  EXPECT_EQ(la.covariance(CovNormaliser::N), a.covariance(CovNormaliser::N));
  la.merge(FrechetStats::load(dir / "b.safetensors"));
  EXPECT_EQ(la.count(), 50);
  // Merging adds the sums; only the summation order differs from one pass.
  EXPECT_LE((la.mean() - whole.mean()).cwiseAbs().maxCoeff(), 1e-14);
  EXPECT_LE((la.covariance(CovNormaliser::N) - whole.covariance(CovNormaliser::N)).cwiseAbs().maxCoeff(), 1e-13);
  EXPECT_EQ(la.features().rows(), 50);
  std::filesystem::remove_all(dir);
}

// Features added in batches (kept in chunks of 256 rows) read back as the rows in order, through
// adds after a read, merges and a save/load.
TEST(Frechet, BatchedFeaturesReadBackInOrder) {
  const auto x = gaussian(70, 6, 0, 1, 3);
  FrechetStats s(6, true), t(6, true);
  s.add(Eigen::MatrixXd(x.topRows(16)));
  s.add(Eigen::MatrixXd(x.middleRows(16, 16)));
  EXPECT_EQ(s.features(), Eigen::MatrixXd(x.topRows(32)));
  s.add(Eigen::MatrixXd(x.middleRows(32, 8)));
  t.add(Eigen::MatrixXd(x.middleRows(40, 20)));
  t.add(Eigen::MatrixXd(x.bottomRows(10)));
  s.merge(t);
  EXPECT_EQ(s.count(), 70);
  EXPECT_EQ(s.features(), x);
  const auto dir = std::filesystem::temp_directory_path() / "osvbench_test_frechet_blocks";
  std::filesystem::create_directories(dir);
  FrechetStats u(6, true);
  u.add(Eigen::MatrixXd(x.topRows(30)));
  u.add(Eigen::MatrixXd(x.bottomRows(40)));
  u.save(dir / "u.safetensors");
  EXPECT_EQ(FrechetStats::load(dir / "u.safetensors").features(), x);
  std::filesystem::remove_all(dir);
}

// A detector's float32 features are kept as float32 (half the memory of double) and give the same
// distance, bootstrap draws and tail share, bit for bit, as the same values kept as double; a
// double row added later turns the kept rows into double without changing them.
TEST(Frechet, FloatFeaturesAreKeptAsFloatAndGiveTheSameNumbers) {
  const auto xa = gaussian(600, 5, 0, 1, 21), xb = gaussian(530, 5, 0.3, 1.1, 22);
  const Eigen::MatrixXf fa = xa.cast<float>(), fb = xb.cast<float>();
  auto rows = [](const Eigen::MatrixXf& m) { return Eigen::Matrix<float, -1, -1, Eigen::RowMajor>(m); };
  const auto ra = rows(fa), rb = rows(fb);
  FrechetStats a32(5, true), b32(5, true), a64(5, true), b64(5, true);
  const Eigen::Matrix<double, -1, -1, Eigen::RowMajor> da = ra.cast<double>(), db = rb.cast<double>();
  for (int64_t at = 0; at < 600; at += 16) {  // the same batches: the same running sums
    a32.add(ra.data() + at * 5, std::min<int64_t>(16, 600 - at));
    a64.add(da.data() + at * 5, std::min<int64_t>(16, 600 - at));
  }
  b32.add(rb.data(), 530);
  b64.add(db.data(), 530);
  EXPECT_FALSE(a32.features_are_double());
  EXPECT_TRUE(a64.features_are_double());
  ASSERT_EQ(a32.feature_chunks(), 3);  // 256 + 256 + 88 rows
  EXPECT_EQ(a32.feature_chunk(0).scalar_type(), torch::kFloat32);
  EXPECT_EQ(a32.feature_chunk(2).size(0), 88);
  EXPECT_EQ(a32.features(), a64.features());
  EXPECT_EQ(bootstrap_fds(a32, b32, CovNormaliser::N, 5, 7), bootstrap_fds(a64, b64, CovNormaliser::N, 5, 7));
  EXPECT_EQ(tail_variance_share(a32), tail_variance_share(a64));
  EXPECT_NEAR(tail_variance_share(a32), tail_variance_share(a32.features()), 1e-12);
  // Saved as float32, loaded as float32.
  const auto dir = std::filesystem::temp_directory_path() / "osvbench_test_frechet_f32";
  std::filesystem::create_directories(dir);
  a32.save(dir / "a.safetensors");
  EXPECT_EQ(SafetensorsFile::open(dir / "a.safetensors").tensor("features").scalar_type(), torch::kFloat32);
  const auto la = FrechetStats::load(dir / "a.safetensors");
  EXPECT_FALSE(la.features_are_double());
  EXPECT_EQ(la.features(), a64.features());
  std::filesystem::remove_all(dir);
  // A double row after float ones: all kept rows become double, values unchanged.
  a32.add(Eigen::MatrixXd(xa.topRows(1)));
  EXPECT_TRUE(a32.features_are_double());
  Eigen::MatrixXd expect(601, 5);
  expect << fa.cast<double>(), xa.topRows(1);
  EXPECT_EQ(a32.features(), expect);
}

// Statistics merged from shards hold the same chunks of rows as one pass over the same rows.
TEST(Frechet, MergedShardsHoldTheChunksOfOnePass) {
  const auto x = gaussian(700, 3, 0, 1, 23);
  FrechetStats whole(3, true), s1(3, true), s2(3, true), s3(3, true);
  whole.add(x);
  s1.add(Eigen::MatrixXd(x.topRows(100)));
  s2.add(Eigen::MatrixXd(x.middleRows(100, 300)));
  s3.add(Eigen::MatrixXd(x.bottomRows(300)));
  s1.merge(s2);
  s1.merge(s3);
  ASSERT_EQ(s1.feature_chunks(), whole.feature_chunks());
  for (int64_t i = 0; i < whole.feature_chunks(); ++i)
    EXPECT_TRUE(s1.feature_chunk(i).equal(whole.feature_chunk(i))) << i;
  EXPECT_EQ(s1.count(), 700);
  // Merging statistics into themselves doubles them (it reads its own chunks while appending).
  FrechetStats d(3, true);
  d.add(Eigen::MatrixXd(x.topRows(300)));
  d.merge(d);
  Eigen::MatrixXd twice(600, 3);
  twice << x.topRows(300), x.topRows(300);
  EXPECT_EQ(d.count(), 600);
  EXPECT_EQ(d.features(), twice);
}

TEST(Frechet, BootstrapIntervalIsSeededAndContainsTheEstimate) {
  FrechetStats r(4, true), f(4, true);
  r.add(gaussian(200, 4, 0, 1, 1));
  f.add(gaussian(200, 4, 0.5, 1.2, 2));
  FvdOptions o;
  o.bootstrap = 100;
  o.seed = 3;
  o.fd_inf = true;
  const auto a = compute_fvd(r, f, o), b = compute_fvd(r, f, o);
  ASSERT_TRUE(a.ci_low && a.ci_high && a.fd_inf);
  EXPECT_EQ(*a.ci_low, *b.ci_low);
  EXPECT_LT(*a.ci_low, a.fvd);
  EXPECT_GT(*a.ci_high, a.fvd);
  // The mean term's expected value for equal distributions: tr S1/N1 + tr S2/N2.
  EXPECT_NEAR(a.mean_bias, (4 * 1.0) / 200 + (4 * 1.44) / 200, 0.02);
  o.seed = 4;
  EXPECT_NE(*compute_fvd(r, f, o).ci_low, *a.ci_low);
  FrechetStats no_features(4);
  no_features.add(gaussian(20, 4, 0, 1, 5));
  EXPECT_THROW(compute_fvd(no_features, f, o), std::exception);
}

// A few videos with huge features carry nearly all of a set's variance: measured, and warned of.
TEST(Frechet, TailShareFlagsHeavyTailedFeatures) {
  const auto normal = gaussian(200, 16, 0, 1, 7);
  const double light = tail_variance_share(normal);
  EXPECT_GT(light, 0.05);  // the top 5% of any set carry at least 5%
  EXPECT_LT(light, 0.2);
  auto heavy = normal;
  for (int i = 0; i < 6; ++i) heavy.row(i) *= 40.0;  // 3% of the videos, 40x the feature norm
  EXPECT_GT(tail_variance_share(heavy), 0.9);

  FrechetStats r(16, true), f(16, true);
  r.add(heavy);
  f.add(gaussian(200, 16, 0, 1, 8));
  const auto res = compute_fvd(r, f, FvdOptions{});
  ASSERT_TRUE(res.real_tail_share && res.fake_tail_share);
  EXPECT_GT(*res.real_tail_share, 0.9);
  EXPECT_LT(*res.fake_tail_share, 0.2);
  const auto w = heavy_tail_warning(res);
  EXPECT_NE(w.find("real"), std::string::npos) << w;
  EXPECT_EQ(w.find("generated"), std::string::npos) << w;
  // Well-behaved sets, or sets too small for a 5% tail: no warning.
  FrechetStats r2(16, true), small(16, true);
  r2.add(normal);
  EXPECT_TRUE(heavy_tail_warning(compute_fvd(r2, f, FvdOptions{})).empty());
  small.add(heavy.topRows(8));
  EXPECT_TRUE(heavy_tail_warning(compute_fvd(small, f, FvdOptions{})).empty());
  // Without kept features there is nothing to measure.
  FrechetStats bare(16);
  bare.add(normal);
  EXPECT_FALSE(compute_fvd(bare, f, FvdOptions{}).real_tail_share);
}

TEST(Frechet, SameDistributionGivesSmallFvdDifferentGivesLarge) {
  FrechetStats a(16), b(16), c(16);
  a.add(gaussian(2000, 16, 0, 1, 1));
  b.add(gaussian(2000, 16, 0, 1, 2));
  c.add(gaussian(2000, 16, 1, 1, 3));
  const double same = frechet_distance(a, b, CovNormaliser::N), diff = frechet_distance(a, c, CovNormaliser::N);
  EXPECT_LT(same, 0.1);
  EXPECT_NEAR(diff, 16.0, 0.5);
}

}  // namespace
}  // namespace osv

namespace osv {
namespace {

// Tiny sets: a clear InputError or a finite value, never an index past the features (N = 1 wrote
// out of bounds in the FD-infinity subsets) or a NaN (N = 2: every subset the same size).
TEST(Frechet, TinySetsGiveAnErrorOrAFiniteValue) {
  for (int64_t n : {0, 1, 2, 3, 7, 8}) {
    FrechetStats r(4, true), f(4, true);
    if (n > 0) {
      r.add(gaussian(n, 4, 0, 1, 11));
      f.add(gaussian(n, 4, 0.5, 1, 12));
    }
    for (bool inf : {false, true}) {
      FvdOptions o;
      o.bootstrap = 10;
      o.fd_inf = inf;
      try {
        const auto res = compute_fvd(r, f, o);
        EXPECT_TRUE(std::isfinite(res.fvd)) << n;
        if (inf) {
          ASSERT_TRUE(res.fd_inf.has_value()) << n;
          EXPECT_TRUE(std::isfinite(*res.fd_inf)) << n;
          EXPECT_GE(n, kFdInfMinVideos);
        } else {
          EXPECT_GE(n, 2);
        }
      } catch (const osv::InputError& e) {
        EXPECT_LT(n, inf ? kFdInfMinVideos : 2) << e.what();
      }
    }
  }
}

// A statistics file's shapes are checked from its header before anything of size dim^2 exists.
TEST(Frechet, StatisticsFilesWithBadShapesAreRejectedBeforeAllocating) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "osvbench_test_frechet_shapes";
  fs::create_directories(dir);
  auto write = [&](torch::Tensor sum, torch::Tensor outer, torch::Tensor count) {
    const auto p = dir / "s.safetensors";
    save_safetensors(p, {{"sum", sum}, {"sum_outer", outer}, {"count", count}}, {{"osvbench_fvd_stats", "1"}});
    return p;
  };
  auto message = [&](const fs::path& p) -> std::string {
    try {
      FrechetStats::load(p);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  const auto d = torch::kFloat64;
  // Claims dim 100000 (80 GB of sum_outer if believed) with a tiny sum_outer.
  EXPECT_NE(message(write(torch::zeros({100000}, d), torch::zeros({2, 2}, d), torch::tensor(int64_t{3}))).find("sum has shape [100000]"),
            std::string::npos);
  EXPECT_NE(message(write(torch::zeros({4}, d), torch::zeros({4, 3}, d), torch::tensor(int64_t{3}))).find("sum_outer has shape [4, 3]"),
            std::string::npos);
  EXPECT_NE(message(write(torch::zeros({4}, d), torch::zeros({4, 4}, d), torch::tensor(int64_t{-2}))).find("negative count"),
            std::string::npos);
  EXPECT_EQ(message(write(torch::zeros({4}, d), torch::zeros({4, 4}, d), torch::tensor(int64_t{3}))), "");
  fs::remove_all(dir);
}

// Non-finite detector features are rejected with the video named, before they reach the sums.
TEST(Frechet, NonFiniteFeaturesAreRejectedWithTheVideoNamed) {
  struct NanOnSecond : FvdDetector {
    torch::Tensor features(const torch::Tensor& videos) override {
      auto f = torch::ones({videos.size(0), 4});
      for (int64_t i = 0; i < videos.size(0); ++i)
        if (videos[i].max().item<int64_t>() == 7) f[i][2] = std::nan("");
      return f;
    }
  } det;
  auto videos = torch::zeros({3, 2, 3, 4, 4}, torch::kUInt8);
  videos[1].fill_(7);
  FrechetStats s(0, true);
  try {
    add_videos(det, s, videos, 2, {"a.mp4", "b.mp4", "c.mp4"});
    FAIL() << "NaN features were accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("b.mp4: the detector's features are not finite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.count(), 0);  // nothing of the bad batch entered
  videos[1].fill_(0);
  FrechetStats ok(0, true);
  add_videos(det, ok, videos, 2);
  EXPECT_EQ(ok.count(), 3);
}

}  // namespace
}  // namespace osv
