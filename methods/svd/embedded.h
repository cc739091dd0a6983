// The embedded default's SVD: a small temporal VAE, a small CLIP-vision image encoder and the
// teacher UNet — the real architectures at small configs — trained here from seeded random
// weights on the synthetic train split, and written as a diffusers SVD folder (model_index.json,
// unet/, vae/, image_encoder/, scheduler/, feature_extractor/) so the same loader reads it as a
// downloaded Stable Video Diffusion.
//
//   vae            AutoencoderKLTemporalDecoder: L1 + MSE reconstruction of whole clips through the
//                  temporal decoder + a small KL term; scaling_factor = 1 / std of the latents.
//   image_encoder  CLIPVisionModelWithProjection: its projected embedding regresses an 8x8 colour
//                  thumbnail of the frame through a linear head (discarded), so the embedding
//                  carries the frame's layout and colours. (No image-text pairs exist here for CLIP's
//                  contrastive objective; this is the documented alternative.)
//   teacher        UNetSpatioTemporalConditionModel: EDM v-prediction (SPEC §1 preconditioning),
//                  ln sigma ~ N(train.p_mean, train.p_std), MSE on F (EDM weighting), conditioning
//                  dropout train.cond_dropout (zero embedding AND zero image latent together) so CFG
//                  works, noise augmentation of the conditioning frame as at sampling.
//
// Each component trains through the shared loop (metrics.jsonl, checkpoints, resume) in
// <folder>/train/<component>/ and is complete when its weights file exists.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "models/clip_vision.h"
#include "models/unet_svd.h"
#include "models/vae_temporal.h"

namespace osv {

class Config;

struct EmbeddedSvdConfig {
  VaeTemporalConfig vae;
  ClipVisionConfig image_encoder;
  UNetSVDConfig unet;
};

// The architecture configs of model.embedded = tiny | small for the config's data size.
EmbeddedSvdConfig embedded_svd_config(const Config& config);

// <run.root>/assets/svd-embedded-<hash>: the hash covers the data, the configs and every training knob.
std::filesystem::path embedded_svd_dir(const Config& config);

// The version tags of the code that trains the embedded models (their cache keys' "version"): every
// measured row's cache key includes them, as it includes a method's MethodInfo::recipe.
std::vector<std::string> embedded_svd_recipe();

// The SVD folder the config uses: model.path, or the embedded folder (which must be prepared).
std::filesystem::path svd_folder_for(const Config& config);

// Builds the missing components of the embedded folder (all three when `components` is empty);
// reports each through `report(component, path, seconds)`. Resumes killed training runs.
void prepare_embedded_svd(const Config& config, const std::vector<std::string>& components, bool force,
                          const std::function<void(const std::string&, const std::string&, double)>& report);

class TrainTask;
// The teacher's EDM training step on precomputed data: latents [N, T, C, h, w] (scaled), CLIP
// embeddings [N, 1, D], uint8 first frames [N, 3, H, W]; `vae` encodes the noise-augmented
// conditioning frame. (Exposed for the training benchmark.)
std::unique_ptr<TrainTask> make_teacher_task(const Config& config, UNetSpatioTemporalConditionModel unet,
                                             AutoencoderKLTemporalDecoder vae, torch::Tensor latents,
                                             torch::Tensor embeds, torch::Tensor first_frames);

// diffusers/transformers config.json documents of the components.
nlohmann::json vae_config_json(const VaeTemporalConfig& c, int64_t sample_size);
nlohmann::json unet_config_json(const UNetSVDConfig& c);
nlohmann::json clip_config_json(const ClipVisionConfig& c);

}  // namespace osv
