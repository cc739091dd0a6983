// Sampling a method on first frames and scoring it with FVD against the held-out clips: what
// `osvbench sample` and `osvbench compare` run for each row.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "methods/api/method.h"
#include "metrics/fvd/frechet.h"

namespace osv {

class SvdPipeline;
class FvdDetector;

SampleOptions sample_options(const Config& config);

// debug.fault applied to a method's latents before decoding (none: unchanged).
// `noise` is the unit Gaussian the sampler started from.
torch::Tensor apply_fault(const std::string& fault, const torch::Tensor& latents, const torch::Tensor& noise,
                          uint64_t seed);

struct Generated {
  torch::Tensor videos;  // uint8 [N, T, 3, H, W] (undefined when a sink took them)
  int64_t nfe = 0;       // network evaluations per clip, counted by the sampler
  double seconds = 0;    // sampling + decoding wall time
  double latency_s = 0;  // per clip
  double clips_per_s = 0;
};

// Receives each generated batch (uint8 [b, T, 3, H, W]) and the index of its first clip.
using VideoSink = std::function<void(const torch::Tensor& videos, int64_t first)>;

// Animates uint8 first frames [N, 3, H, W]. Clip i's noise (and its conditioning-frame noise
// augmentation) comes from seed (sample.seed, i), so a clip does not depend on the batch size.
// With a sink the batches go to it as they are decoded and `videos` stays empty (memory holds one
// batch, not N clips); the sink's time is not part of the timing.
Generated generate_videos(Method& method, SvdPipeline& pipe, const torch::Tensor& first_frames, const SampleOptions& o,
                          int64_t frames, int64_t batch, double progress_interval_s, const std::string& label,
                          const std::string& fault = "none", const VideoSink& sink = {});

// Everything one compare/ablate session shares: the SVD pipeline, the detector, the statistics of
// the held-out clips (streamed through the detector: only their first frames stay in memory, as the
// conditioning of every row's samples) — and each row streams its generated clips into its
// statistics, so memory does not grow with N.
class Evaluator {
 public:
  explicit Evaluator(const Config& base);
  ~Evaluator();
  std::shared_ptr<SvdPipeline> pipeline() { return pipe_; }
  // The first frames of the held-out clips (uint8 [N, 3, H, W]): what the samples are conditioned on.
  const torch::Tensor& first_frames() const { return first_; }
  // Samples `config`'s method and sampler on the first sample.num_samples test clips and scores
  // them; returns the row as JSON (method, sampler, steps, cfg, nfe, fvd, ci, n, latency, ...).
  nlohmann::json run_row(const Config& config, const std::filesystem::path& videos_dir = {});
  // The config keys the construction read (pipeline, detector, real statistics): part of what
  // every row measured by this Evaluator depends on.
  const std::set<std::string>& construction_reads() const { return reads_; }

 private:
  Config base_;
  std::shared_ptr<SvdPipeline> pipe_;
  std::unique_ptr<FvdDetector> detector_;
  FrechetStats real_{0};
  torch::Tensor first_;
  std::set<std::string> reads_;
};

}  // namespace osv
