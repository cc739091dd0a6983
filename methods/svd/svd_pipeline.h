// Image-to-video with an SVD folder (SPEC §1): the conditioning of the first frame, the
// preconditioned denoiser, and latent encoding/decoding of videos. Shared by the teacher and
// every student (a student is the teacher's UNet with LoRA).
//
// Dimension legend: B batch, T frames, C latent channels, h, w latent size, H, W pixels.
#pragma once

#include <torch/torch.h>

#include <filesystem>

#include "methods/api/method.h"
#include "methods/svd/edm.h"
#include "models/svd_folder.h"

namespace osv {

class Config;

struct ConditioningOptions {
  double noise_aug = 0.02;
  int64_t fps = 7;
  int64_t motion_bucket_id = 127;
};

// cond.* of a config.
ConditioningOptions conditioning_options(const Config& config);
// added_time_ids [B, 3] = (fps - 1, motion_bucket_id, noise_aug) per clip.
torch::Tensor added_time_ids(const ConditioningOptions& o, int64_t batch,
                             const torch::TensorOptions& options = torch::TensorOptions());

class SvdPipeline;
// A training set encoded once for the diffusion losses.
struct EncodedClips {
  torch::Tensor latents;       // [N, T, C, h, w], scaled
  torch::Tensor embeds;        // [N, 1, D], CLIP embeddings of the first frames
  torch::Tensor first_frames;  // uint8 [N, 3, H, W]
};
EncodedClips encode_clips(SvdPipeline& pipe, const torch::Tensor& videos);
// encode_clips through a file cache, <cache_dir>/encoded-<key>.safetensors, so that every method
// trained on one data set and one VAE encodes it once. The key is the SHA-256 of what the encoding
// reads: the clips' bytes, every parameter and buffer of the VAE and the image encoder, the
// scaling factor, the CLIP preprocessing, the precision and the device type (and a version of this
// code). An unreadable or mismatched cache file is logged and encoded again.
EncodedClips encode_clips_cached(SvdPipeline& pipe, const torch::Tensor& videos, const std::filesystem::path& cache_dir);

class SvdPipeline {
 public:
  // Loads every component of `folder` (model.path, or the embedded folder prepare built); the
  // config's `precision` autocasts the VAE and CLIP passes below (their results come back fp32).
  SvdPipeline(const std::filesystem::path& folder, const Config& config);
  SvdPipeline(SvdFolder models, double scaling_factor, ConditioningOptions cond,
              c10::ScalarType precision = c10::kFloat);

  // first_frames: uint8 [B, 3, H, W]. The image latent is encoded from image + noise_aug * eps,
  // eps = aug_noise [B, 3, H, W] when given, else drawn from torch's default generator; taken as
  // the distribution's mode, not scaled.
  Conditioning encode_conditioning(const torch::Tensor& first_frames, const torch::Tensor& aug_noise = {});
  // The CLIP image embedding of uint8 frames [B, 3, H, W] -> [B, 1, D].
  torch::Tensor image_embeds(const torch::Tensor& first_frames);
  // videos: uint8 [B, T, 3, H, W] -> latents [B, T, C, h, w] (mode x scaling factor).
  torch::Tensor encode_video(const torch::Tensor& videos, int64_t chunk = 16);
  // latents [B, T, C, h, w] -> uint8 videos [B, T, 3, H, W].
  torch::Tensor decode(const torch::Tensor& latents, int64_t chunk = 14);

  SvdFolder& models() { return models_; }
  double scaling_factor() const { return scaling_factor_; }
  const ConditioningOptions& conditioning_options() const { return cond_; }
  c10::ScalarType precision() const { return precision_; }
  c10::Device device() const;

 private:
  SvdFolder models_;
  double scaling_factor_;
  ConditioningOptions cond_;
  c10::ScalarType precision_ = c10::kFloat;
};

// uint8 images [..., 3, H, W] -> float [-1, 1] and back.
torch::Tensor to_unit_range(const torch::Tensor& u8);
torch::Tensor from_unit_range(const torch::Tensor& x);

// The UNet F on c_in-scaled latents: x_in [B, T, C, h, w] concatenated with the image latent on
// channels, timestep c_noise [B]; conditional = false uses zero embedding and zero image latent
// (the unconditional branch). Returns the v-prediction [B, T, C, h, w].
torch::Tensor unet_forward(UNetSpatioTemporalConditionModel& unet, const torch::Tensor& x_in,
                           const torch::Tensor& c_noise, const Conditioning& cond, bool conditional);

// D(x; sigma) = c_skip x + c_out F(c_in x, c_noise) per sample; sigma [B].
torch::Tensor denoise(UNetSpatioTemporalConditionModel& unet, const torch::Tensor& x, const torch::Tensor& sigma,
                      const Conditioning& cond, bool conditional = true);

// The teacher sampler's network: F with this conditioning, for euler_sample.
VideoNetwork conditioned_network(UNetSpatioTemporalConditionModel& unet, const Conditioning& cond);

// The conditioning of rows `index` of a batch (for mini-batching a larger set).
Conditioning select_rows(const Conditioning& c, const torch::Tensor& index);

}  // namespace osv
