// OSV's latent discriminator (SPEC §3, the paper's Figures 3/4): latents per frame through a
// trainable sub-pixel upsampler (Conv2d 4 -> 3 r^2, 3x3, PixelShuffle r, then a sigmoid to [0, 1]:
// our choice, the paper names no output range) — or, variant `decoder`, the frozen VAE decoder —
// resized bilinearly to the backbone's square S x S input (a non-square frame is squashed, its
// aspect ratio not kept; the paper does not say how it fits DINOv2's 224 x 224), a frozen DINOv2, features tapped
// after chosen blocks (and the patch embedding), and per tap a spatial head (2-D conv blocks ->
// logit map) and a temporal head over frames (1-D conv blocks). The heads' blocks are StyleGAN-T's
// (spectral norm, local batch norm; `head_blocks`) by default. The output is every head's every
// logit, per clip (the hinge is taken per logit: consistency.h).
//
// Dimension legend: B clips, T frames, C latent channels, h, w latent size, S backbone input,
// P patch, D backbone width, H' = W' = S / P.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "models/dinov2.h"
#include "models/vae_temporal.h"

namespace osv {

struct LatentDiscriminatorOptions {
  std::string kind = "upsampler";  // upsampler | decoder
  int64_t latent_channels = 4;
  int64_t upsample_r = 4;
  int64_t input_size = 224;        // multiple of the backbone's patch size
  std::vector<int64_t> taps{2, 5, 8, 11};
  // > 0: `taps` are block indices of a taps_depth-block backbone (StyleGAN-T's {2, 5, 8, 11} of 12),
  // scaled to the backbone's depth L as round((t + 1) L / taps_depth) - 1 (24 blocks: {5, 11, 17, 23});
  // 0: `taps` are the backbone's own block indices.
  int64_t taps_depth = 0;
  bool tap_patch_embed = true;
  int64_t head_channels = 64;
  // Head blocks: "stylegan_t" = StyleGAN-T's (spectral-normalised convs, BatchNormLocal, residual / sqrt 2;
  // disc_heads.h), "plain" = Conv -> ResBlock -> Conv without normalisation (SPEC §3's wording).
  std::string head_blocks = "stylegan_t";
  // The backbone's CLS token at every tap: "add" = added to every patch token (StyleGAN-T's
  // AddReadout), "drop" = left out.
  std::string cls_token = "add";
  double vae_scaling_factor = 1.0;  // decoder variant: latents are divided by it before decoding
};

// The blocks tapped on a backbone of `depth` blocks (see LatentDiscriminatorOptions::taps_depth).
std::vector<int64_t> scaled_taps(const std::vector<int64_t>& taps, int64_t taps_depth, int64_t depth);

class LatentDiscriminatorImpl : public torch::nn::Module {
 public:
  // `backbone` is frozen here; `vae` is needed (and frozen) for kind = decoder only.
  LatentDiscriminatorImpl(LatentDiscriminatorOptions o, Dinov2Model backbone, AutoencoderKLTemporalDecoder vae = nullptr);
  // latents [B, T, C, h, w] -> logits [B, L] (L = every head's logits concatenated)
  torch::Tensor forward(const torch::Tensor& latents);
  // The trainable parameters (upsampler and heads; never the backbone or the VAE).
  std::vector<torch::Tensor> trainable_parameters();
  // The heads' state that is not trained but must survive a checkpoint (spectral norm's u, v).
  std::vector<torch::Tensor> state_buffers();
  const LatentDiscriminatorOptions& options() const { return o_; }

 private:
  LatentDiscriminatorOptions o_;
  Dinov2Model backbone_;
  AutoencoderKLTemporalDecoder vae_{nullptr};
  torch::nn::Conv2d upsampler_{nullptr};
  torch::nn::ModuleList spatial_heads_, temporal_heads_;
  std::vector<int64_t> layers_;  // hidden_states indices tapped (0 = patch embedding)
};
TORCH_MODULE(LatentDiscriminator);

}  // namespace osv
