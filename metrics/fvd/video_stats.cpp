#include "metrics/fvd/video_stats.h"

#include <fmt/format.h>

#include "common/errors.h"

namespace osv {

FrechetStats make_stats_for(const FvdDetector& detector, int64_t dim, int64_t frames, bool keep_features) {
  FrechetStats s(dim, keep_features);
  const auto& i = detector.info();
  s.info = {{"detector", i.id},        {"weights", i.weights},   {"weights_sha256", i.weights_sha256},
            {"preprocess", i.preprocess}, {"features", i.features}, {"frames", std::to_string(frames)}};
  if (i.id == "i3d") s.info["bn_eps"] = fmt::format("{}", i.bn_eps);
  return s;
}

torch::Tensor checked_features(FvdDetector& detector, const torch::Tensor& videos, const std::vector<std::string>& names,
                               int64_t first_index) {
  auto f = detector.features(videos).contiguous();
  // NaN or inf features would poison every later mean, covariance and cached row.
  const auto finite = torch::isfinite(f).all(1);
  if (!finite.all().item<bool>()) {
    const int64_t i = first_index + torch::nonzero(~finite)[0][0].item<int64_t>();
    const auto name = static_cast<std::size_t>(i) < names.size() ? names[static_cast<std::size_t>(i)]
                                                                : fmt::format("video #{}", i);
    throw InputError(fmt::format("{}: the detector's features are not finite (NaN or inf); nothing of it entered "
                                 "the statistics",
                                 name));
  }
  return f;
}

void add_videos(FvdDetector& detector, FrechetStats& stats, const torch::Tensor& videos, int64_t batch,
                const std::vector<std::string>& names) {
  for (int64_t b = 0; b < videos.size(0); b += batch) {
    auto f = checked_features(detector, videos.slice(0, b, std::min(videos.size(0), b + batch)), names, b);
    if (stats.dim() == 0) {
      const bool keep = stats.has_features();
      stats = make_stats_for(detector, f.size(1), videos.size(1), keep);
    }
    stats.add(f.data_ptr<float>(), f.size(0));
  }
}

}  // namespace osv
