// Detector sanity suite (SPEC §6), shared by its CI slice (test_fvd_sanity.cpp: spatial blur and
// frozen frames) and the full suite (test_fvd_sanity_full.cpp, label `slow`: all five corruptions). With the embedded detector on synthetic clips, FVD between two halves of
// the real clips is small, FVD(real, corrupted) rises with the corruption's severity for spatial
// blur, additive noise, frozen frames and frame shuffling, a colour corruption (desaturation)
// registers, and no handful of real clips dominates the feature variance. Prints the table.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "datasets/synthetic.h"
#include "metrics/fvd/detector.h"
#include "metrics/fvd/embedded_detector.h"
#include "metrics/fvd/frechet.h"
#include "metrics/fvd/video_stats.h"

namespace osv {
namespace fvd_sanity {
namespace F = torch::nn::functional;

// videos: uint8 [N, T, 3, H, W]
inline torch::Tensor blur(const torch::Tensor& v, double sigma) {
  const int64_t k = 2 * static_cast<int64_t>(std::ceil(2 * sigma)) + 1;
  auto x = torch::arange(k, torch::kFloat32) - static_cast<double>(k / 2);
  auto g = torch::exp(-x * x / (2 * sigma * sigma));
  g = g / g.sum();
  const auto N = v.size(0), T = v.size(1), H = v.size(3), W = v.size(4);
  auto f = v.to(torch::kFloat32).reshape({N * T * 3, 1, H, W});
  f = F::conv2d(F::pad(f, F::PadFuncOptions({k / 2, k / 2, 0, 0}).mode(torch::kReplicate)), g.view({1, 1, 1, k}));
  f = F::conv2d(F::pad(f, F::PadFuncOptions({0, 0, k / 2, k / 2}).mode(torch::kReplicate)), g.view({1, 1, k, 1}));
  return f.reshape(v.sizes()).round().clamp(0, 255).to(torch::kUInt8);
}

inline torch::Tensor noise(const torch::Tensor& v, double std) {
  return (v.to(torch::kFloat32) + std * torch::randn(v.sizes())).round().clamp(0, 255).to(torch::kUInt8);
}

// The last `fraction` of the frames repeat the frame before them.
inline torch::Tensor freeze(const torch::Tensor& v, double fraction) {
  auto out = v.clone();
  const int64_t T = v.size(1), keep = std::max<int64_t>(1, T - static_cast<int64_t>(std::lround(fraction * T)));
  for (int64_t t = keep; t < T; ++t) out.select(1, t).copy_(v.select(1, keep - 1));
  return out;
}

// A random permutation of the first `fraction` of the frames of each clip.
inline torch::Tensor shuffle(const torch::Tensor& v, double fraction) {
  auto out = v.clone();
  const int64_t T = v.size(1), n = std::max<int64_t>(2, static_cast<int64_t>(std::lround(fraction * T)));
  for (int64_t i = 0; i < v.size(0); ++i) {
    auto perm = torch::randperm(n);
    for (int64_t t = 0; t < n; ++t) out[i][t].copy_(v[i][perm[t].item<int64_t>()]);
  }
  return out;
}

// Each pixel moved `amount` of the way to its grey (channel mean).
inline torch::Tensor desaturate(const torch::Tensor& v, double amount) {
  auto f = v.to(torch::kFloat32);
  auto grey = f.mean(2, /*keepdim=*/true);
  return (f + amount * (grey - f)).round().clamp(0, 255).to(torch::kUInt8);
}

// Trains the small preset's embedded detector into a temporary folder `dir_name`, scores 512 + 512
// real clips, checks the real features' tail share, then checks FVD(real, corrupted) for the
// corruptions named in `only` (all five when empty) at three severities each.
inline void run_fvd_sanity(const std::set<std::string>& only, const std::string& dir_name) {
  torch::manual_seed(0);
  const auto dir = std::filesystem::temp_directory_path() / dir_name;
  std::filesystem::create_directories(dir);
  EmbeddedDetectorOptions eo;
  eo.input_size = 64;
  eo.frames = 8;
  eo.calibration_clips = 64;
  eo.train_steps = 400;
  const auto weights = ensure_embedded_i3d(dir / "i3d_embedded.safetensors", eo);
  NativeI3dOptions no;
  no.size = 64;
  auto det = make_native_i3d(weights, no);

  SyntheticOptions so;
  so.frames = 8;
  so.height = 64;
  so.width = 64;
  const int64_t n = 512;
  std::vector<torch::Tensor> a, b;
  for (int64_t i = 0; i < n; ++i) {
    a.push_back(synthetic_clip(so, i).video);
    b.push_back(synthetic_clip(so, n + i).video);
  }
  const auto real_a = torch::stack(a), real_b = torch::stack(b);
  FrechetStats sa(0, /*keep_features=*/true), sb(0);
  add_videos(*det, sa, real_a, 32);
  add_videos(*det, sb, real_b, 32);
  auto fvd = [&](const torch::Tensor& fake) {
    FrechetStats s(0);
    add_videos(*det, s, fake, 32);
    return frechet_distance(sa, s, CovNormaliser::N);
  };
  const double base = frechet_distance(sa, sb, CovNormaliser::N);
  std::printf("[sanity] embedded I3D, %lld vs %lld synthetic clips, 8x64x64\n", static_cast<long long>(n),
              static_cast<long long>(n));
  // A well-behaved detector: the 5% most distant real clips carry well under half the variance
  // (the motion-only detector this replaced: 92%, so FVD measured a dozen clips).
  const double tail = tail_variance_share(sa.features());
  std::printf("[sanity] real tail share (variance of the 5%% most distant clips): %.3f\n", tail);
  EXPECT_LT(tail, 0.3);
  std::printf("[sanity] %-14s %10s %10s %10s\n", "corruption", "mild", "medium", "severe");
  std::printf("[sanity] %-14s %10.3f (real A vs real B)\n", "none", base);
  struct Row {
    const char* name;
    std::function<torch::Tensor(double)> apply;
    std::array<double, 3> severity;
  };
  const std::vector<Row> rows = {
      {"blur sigma", [&](double s) { return blur(real_b, s); }, {0.8, 1.5, 2.5}},
      {"noise std", [&](double s) { return noise(real_b, s); }, {12, 24, 45}},
      {"frozen frac", [&](double s) { return freeze(real_b, s); }, {0.375, 0.625, 0.875}},
      {"shuffled frac", [&](double s) { return shuffle(real_b, s); }, {0.375, 0.625, 1.0}},
      {"desaturate", [&](double s) { return desaturate(real_b, s); }, {0.25, 0.5, 1.0}},
  };
  int checked = 0;
  for (const auto& r : rows) {
    if (!only.empty() && only.count(r.name) == 0) continue;
    ++checked;
    std::array<double, 3> v{};
    for (int i = 0; i < 3; ++i) v[i] = fvd(r.apply(r.severity[i]));
    std::printf("[sanity] %-14s %10.3f %10.3f %10.3f   (severities %g, %g, %g)\n", r.name, v[0], v[1], v[2],
                r.severity[0], r.severity[1], r.severity[2]);
    EXPECT_GT(v[0], base) << r.name;
    EXPECT_LT(v[0], v[1]) << r.name;
    EXPECT_LT(v[1], v[2]) << r.name;
  }
  EXPECT_EQ(checked, only.empty() ? static_cast<int>(rows.size()) : static_cast<int>(only.size()));
  std::filesystem::remove_all(dir);
}

}  // namespace fvd_sanity
}  // namespace osv
