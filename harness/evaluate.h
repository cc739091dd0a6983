// Sampling a method on first frames and scoring it with FVD against the held-out clips: what
// `osvbench sample` and `osvbench compare` run for each row.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

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
  int64_t clips = 0;     // clips this process sampled
  double seconds = 0;    // sampling + decoding wall time
  double latency_s = 0;  // per clip
  double clips_per_s = 0;
};

// Receives each generated batch (uint8 [b, T, 3, H, W]) and the index of its first clip.
using VideoSink = std::function<void(const torch::Tensor& videos, int64_t first)>;

// The conditioning frames of clips [begin, end): uint8 [end - begin, 3, H, W].
using FrameSource = std::function<torch::Tensor(int64_t begin, int64_t end)>;

// Which batches (by their first clip's index) this process samples; unset: all of them.
using BatchFilter = std::function<bool(int64_t first)>;

// Animates `n` uint8 first frames read batch by batch from `first_frames`. Clip i's noise (and its
// conditioning-frame noise augmentation) comes from seed (sample.seed, i), so a clip does not
// depend on the batch size (nor on which process samples it). With a sink the batches go to it as
// they are decoded and `videos` stays empty (memory holds one batch, not N clips); the sink's time
// is not part of the timing. With `take`, only the batches it accepts are sampled (a process
// group's share); the timing is per clip of that share.
Generated generate_videos(Method& method, SvdPipeline& pipe, int64_t n, const FrameSource& first_frames,
                          const SampleOptions& o, int64_t frames, int64_t batch, double progress_interval_s,
                          const std::string& label, const std::string& fault = "none", const VideoSink& sink = {},
                          const BatchFilter& take = {});
// The same on first frames held in memory (uint8 [N, 3, H, W]).
Generated generate_videos(Method& method, SvdPipeline& pipe, const torch::Tensor& first_frames, const SampleOptions& o,
                          int64_t frames, int64_t batch, double progress_interval_s, const std::string& label,
                          const std::string& fault = "none", const VideoSink& sink = {});

// uint8 frames [3, H, W] appended in batches to an unnamed temporary file ($TMPDIR, else /tmp;
// the file has no name, so it disappears when the process ends, killed or not) and read back by
// range: the held-out clips' first frames at 2,048 x 576 x 1024 are 3.6 GB that need not be in
// memory while the rows sample.
class FrameSpool {
 public:
  FrameSpool();
  ~FrameSpool();
  FrameSpool(const FrameSpool&) = delete;
  FrameSpool& operator=(const FrameSpool&) = delete;
  void append(const torch::Tensor& frames);  // uint8 [b, 3, H, W], every batch of one size H x W
  int64_t count() const { return count_; }
  torch::Tensor read(int64_t begin, int64_t end) const;  // uint8 [end - begin, 3, H, W]

 private:
  int fd_ = -1;
  std::vector<int64_t> frame_shape_;  // [3, H, W]
  int64_t count_ = 0;
};

// Everything one compare/ablate session shares: the SVD pipeline, the detector, the statistics of
// the held-out clips (streamed through the detector; their first frames, the conditioning of every
// row's samples, spooled to a temporary file) — and each row streams its generated clips into its
// statistics, so memory does not grow with N.
class Evaluator {
 public:
  explicit Evaluator(const Config& base);
  ~Evaluator();
  std::shared_ptr<SvdPipeline> pipeline() { return pipe_; }
  // Samples `config`'s method and sampler on the first sample.num_samples test clips and scores
  // them; returns the row as JSON (method, sampler, steps, cfg, nfe, fvd, ci, n, latency, ...).
  // In a process group every rank calls it: the clips are sampled and scored in detector batches of
  // 16 (batch j on rank j mod world), the features gathered, and rank 0 computes the FVD (the row
  // one process measures, bit for bit, at equal threads per process) and writes the sample videos;
  // the other ranks return null.
  nlohmann::json run_row(const Config& config, const std::filesystem::path& videos_dir = {});
  // The VAE's reconstructions of the first sample.num_samples held-out clips (every frame encoded to
  // its latent's mode and decoded, as every method's samples are decoded), scored like a row against
  // the same real statistics: how far the decoder alone moves the clips' distribution (a reference
  // for the rows, not a bound: FVD compares distributions, and these are the real set's own clips).
  // With `with_floor`, also the FVD of as many training clips against the real statistics (the
  // real-vs-real floor at the same N; FVD is biased by N, so the ratio compares like with like).
  // Every reconstruction is written to `videos_dir` (mp4, the harness's encoding) when given.
  // One process only.
  nlohmann::json run_reconstruction(const Config& config, const std::filesystem::path& videos_dir, bool with_floor);
  // The config keys the construction read (pipeline, detector, real statistics): part of what
  // every row measured by this Evaluator depends on.
  const std::set<std::string>& construction_reads() const { return reads_; }

 private:
  Config base_;
  std::shared_ptr<SvdPipeline> pipe_;
  std::unique_ptr<FvdDetector> detector_;
  FrechetStats real_{0};
  FrameSpool first_;  // the held-out clips' first frames: what the samples are conditioned on
  std::set<std::string> reads_;
};

}  // namespace osv
