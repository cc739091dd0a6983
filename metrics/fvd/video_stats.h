// Detector features of videos into FVD statistics, with the detector's identity recorded.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "metrics/fvd/detector.h"
#include "metrics/fvd/frechet.h"

namespace osv {

// Empty statistics whose info identifies `detector` and the clip length.
FrechetStats make_stats_for(const FvdDetector& detector, int64_t dim, int64_t frames, bool keep_features);

// videos: uint8 [N, T, 3, H, W], fed in batches of `batch`. Creates the statistics on first use.
// A video whose features are not finite is rejected with an InputError naming it (names[i], else
// its index) before anything of its batch enters the statistics.
void add_videos(FvdDetector& detector, FrechetStats& stats, const torch::Tensor& videos, int64_t batch = 8,
                const std::vector<std::string>& names = {});

// One batch's features, float32 [N, D], contiguous; an InputError naming the first video (names[i],
// else its index) whose features are not finite.
torch::Tensor checked_features(FvdDetector& detector, const torch::Tensor& videos,
                               const std::vector<std::string>& names = {}, int64_t first_index = 0);

}  // namespace osv
