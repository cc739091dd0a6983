// SF-V's discriminator (SPEC §3 "Variant unet_encoder", §4): a frozen copy of the teacher UNet's
// encoder (conv_in, embeddings, down blocks) applied to noised latents c_in(σ')·(x + σ'ε) next to
// the conditioning-frame latent, with one spatial and one temporal head after each down block.
// Heads are conditioned on the image embedding, σ' and (spatial heads) the frame index, through a
// projection added to their hidden features. Output: every head's every logit, per clip.
//
// Dimension legend: B clips, T frames, C latent channels, h, w latent size, C_i / h_i / w_i the
// i-th down block's width and size, D image-embedding width.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "models/unet_svd.h"

namespace osv {

struct Conditioning;

class UNetEncoderDiscriminatorImpl : public torch::nn::Module {
 public:
  // `encoder` is frozen here (pass a copy of the teacher); only the heads train.
  explicit UNetEncoderDiscriminatorImpl(UNetSpatioTemporalConditionModel encoder, int64_t head_channels = 64);
  // x_in: [B, T, C, h, w] = c_in(σ')·(x + σ'ε); sigma_prime [B] -> logits [B, L]
  torch::Tensor forward(const torch::Tensor& x_in, const torch::Tensor& sigma_prime, const Conditioning& cond);
  std::vector<torch::Tensor> trainable_parameters();

 private:
  UNetSpatioTemporalConditionModel encoder_;
  torch::nn::ModuleList spatial_heads_, temporal_heads_;
  int64_t embed_dim_;
};
TORCH_MODULE(UNetEncoderDiscriminator);

// σ' for the discriminator's noise: log σ' ~ N(p_mean, p_std²) rounded to the nearest point (in
// log σ) of `grid` (SF-V: a 1000-point Karras grid). Returns [n] float.
torch::Tensor sample_sigma_prime(const std::vector<double>& grid, double p_mean, double p_std, int64_t n);

// The noised, c_in-scaled discriminator input c_in(σ')·(x + σ'ε) for x [B, T, C, h, w], σ' [B].
torch::Tensor noised_disc_input(const torch::Tensor& x, const torch::Tensor& sigma_prime);

}  // namespace osv
