// SVD's VAE (diffusers `AutoencoderKLTemporalDecoder`): the image encoder of AutoencoderKL and a
// decoder with temporal ResNet blocks and a final temporal convolution. Parameter names as in
// vae/diffusion_pytorch_model.safetensors of the diffusers SVD folders.
//
// Latents here are the raw distribution values; the caller scales by scaling_factor (SPEC §1:
// the conditioning frame's latent is NOT scaled, denoised latents are divided by it before
// decoding). Dimension legend: N = B*T images, H, W pixels, h = H/8, w = W/8, Z latent channels.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace osv {

struct VaeTemporalConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  std::vector<int64_t> block_out_channels{128, 256, 512, 512};
  int64_t layers_per_block = 2;
  int64_t latent_channels = 4;
  double scaling_factor = 0.18215;
  static VaeTemporalConfig from_json(const nlohmann::json& j);
};

struct LatentDistribution {
  torch::Tensor mean;    // [N, Z, h, w], the mode
  torch::Tensor logvar;  // [N, Z, h, w], clamped to [-30, 20]
  torch::Tensor std() const { return torch::exp(0.5 * logvar); }
  torch::Tensor mode() const { return mean; }
  torch::Tensor sample(const torch::Generator& gen = {}) const;
};

namespace vae_detail {
struct EncoderImpl;
struct TemporalDecoderImpl;
}  // namespace vae_detail

class AutoencoderKLTemporalDecoderImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLTemporalDecoderImpl(VaeTemporalConfig config);
  // images: [N, 3, H, W] in [-1, 1]
  LatentDistribution encode(const torch::Tensor& images);
  // z: [B*T, Z, h, w], frames consecutive per video -> [B*T, 3, H, W]
  torch::Tensor decode(const torch::Tensor& z, int64_t num_frames);
  // z: [B, T, Z, h, w] -> [B, T, 3, H, W], decoding at most `chunk` frames of one video at a
  // time to bound memory (as the SVD pipeline's decode_chunk_size; chunk <= 0 decodes all T).
  torch::Tensor decode_video(const torch::Tensor& z, int64_t chunk);
  const VaeTemporalConfig& config() const { return config_; }

 private:
  VaeTemporalConfig config_;
  std::shared_ptr<vae_detail::EncoderImpl> encoder_;
  std::shared_ptr<vae_detail::TemporalDecoderImpl> decoder_;
  torch::nn::Conv2d quant_conv_{nullptr};
};
TORCH_MODULE(AutoencoderKLTemporalDecoder);

AutoencoderKLTemporalDecoder load_vae_temporal(const std::filesystem::path& folder);

}  // namespace osv
