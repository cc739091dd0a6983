// The one interface every method implements (teacher, AnimateLCM, SF-V, OSV) and the
// harness calls. Every row of the paper's tables is a (method, SampleOptions) pair.
//
// Dimension legend: B batch, T frames, C latent channels (4), h, w latent height and width.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace osv {

struct SampleOptions {
  int steps = 1;
  std::string sampler = "euler";  // euler | consistency | tts
  bool cfg = false;
  float cfg_min = 1.0f;
  float cfg_max = 1.0f;
  std::uint64_t seed = 0;
};

// Image-to-video conditioning of SVD (SPEC §1).
struct Conditioning {
  torch::Tensor image_latent;    // [B, C, h, w], first frame's VAE latent (mode, unscaled)
  torch::Tensor image_embeds;    // [B, 1, D], CLIP image embedding
  torch::Tensor added_time_ids;  // [B, 3]: fps - 1, motion_bucket_id, noise_aug
};

struct SampleResult {
  torch::Tensor latents;  // [B, T, C, h, w]
  int64_t nfe = 0;        // network evaluations per clip batch, counted
};

class Method {
 public:
  virtual ~Method() = default;
  virtual std::string name() const = 0;
  // Network evaluations per clip the sampler will make (the sampler also counts them).
  virtual int nfe(const SampleOptions& options) const = 0;
  // Latents [B, T, C, h, w] (scaled by the VAE scaling factor) from `noise` [B, T, C, h, w] ~ N(0, I),
  // with the network evaluations counted as they are made.
  virtual SampleResult sample(const Conditioning& cond, const torch::Tensor& noise, const SampleOptions& options) = 0;
  // Where its weights and training runs come from (recorded in results).
  virtual std::string weights_id() const = 0;
};

}  // namespace osv
