// Stable Video Diffusion's UNet (diffusers `UNetSpatioTemporalConditionModel`), with the
// parameter names of the diffusers checkpoints (unet/diffusion_pytorch_model.safetensors).
// SPEC §1: input latents [B, T, 8, h, w] (noisy latents scaled by c_in, concatenated with the
// conditioning-frame latent), timestep = c_noise, image embedding [B, 1, D], added_time_ids [B, 3].
//
// Dimension legend: B batch, T frames, C channels, h, w latent height and width, D cross-attention
// width, E time-embedding width (4 x block_out_channels[0]).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace osv {

struct UNetSVDConfig {
  int64_t sample_size = 96;
  int64_t in_channels = 8;
  int64_t out_channels = 4;
  std::vector<std::string> down_block_types{"CrossAttnDownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal",
                                            "CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"};
  std::vector<std::string> up_block_types{"UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal",
                                          "CrossAttnUpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"};
  std::vector<int64_t> block_out_channels{320, 640, 1280, 1280};
  int64_t addition_time_embed_dim = 256;
  int64_t projection_class_embeddings_input_dim = 768;
  std::vector<int64_t> layers_per_block{2, 2, 2, 2};
  std::vector<int64_t> cross_attention_dim{1024, 1024, 1024, 1024};
  std::vector<int64_t> transformer_layers_per_block{1, 1, 1, 1};
  std::vector<int64_t> num_attention_heads{5, 10, 20, 20};
  int64_t num_frames = 25;
  // Reads a diffusers unet/config.json (scalars broadcast to per-block lists).
  static UNetSVDConfig from_json(const nlohmann::json& j);
};

namespace svd_blocks {
struct TimestepEmbeddingImpl;
}

class UNetSpatioTemporalConditionModelImpl : public torch::nn::Module {
 public:
  explicit UNetSpatioTemporalConditionModelImpl(UNetSVDConfig config);
  // sample: [B, T, in_channels, h, w]; timestep: [B] or scalar (c_noise);
  // encoder_hidden_states: [B, 1, D]; added_time_ids: [B, 3]  ->  [B, T, out_channels, h, w]
  torch::Tensor forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                        const torch::Tensor& encoder_hidden_states, const torch::Tensor& added_time_ids);
  // The encoder half (conv_in, embeddings, down blocks), as SF-V's discriminator uses it:
  // each down block's output, [B*T, C_i, h_i, w_i] (after its downsampler, if any).
  std::vector<torch::Tensor> down_block_outputs(const torch::Tensor& sample, const torch::Tensor& timestep,
                                                const torch::Tensor& encoder_hidden_states,
                                                const torch::Tensor& added_time_ids);
  const UNetSVDConfig& config() const { return config_; }
  // Whole forward passes made by this module since it was built, counted in clips (the sum of
  // `sample`'s batch sizes: a CFG pair batched as 2B counts 2B). down_block_outputs is not
  // counted. Read by the training tasks to log what a step cost (methods/api/train_loop.h).
  int64_t clip_passes() const { return clip_passes_; }

 private:
  struct Encoded {
    torch::Tensor emb, ctx;             // [B*T, E], [B*T, S, D]
    std::vector<torch::Tensor> blocks;  // each down block's output
  };
  Encoded encode(const torch::Tensor& sample, const torch::Tensor& timestep, const torch::Tensor& encoder_hidden_states,
                 const torch::Tensor& added_time_ids, std::vector<torch::Tensor>* skips);
  UNetSVDConfig config_;
  int64_t clip_passes_ = 0;
  torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  std::shared_ptr<svd_blocks::TimestepEmbeddingImpl> time_embedding_, add_embedding_;
  torch::nn::ModuleList down_blocks_, up_blocks_;
  std::shared_ptr<torch::nn::Module> mid_block_;
  torch::nn::GroupNorm conv_norm_out_{nullptr};
};
TORCH_MODULE(UNetSpatioTemporalConditionModel);

// Sinusoidal timestep features as diffusers' Timesteps(dim, flip_sin_to_cos=True, shift=0):
// t: [N] -> [N, dim] = [cos(t f), sin(t f)], f_k = exp(-ln(10000) k / (dim/2)).
torch::Tensor timestep_features(const torch::Tensor& t, int64_t dim);

// Loads unet/ of a diffusers folder (config.json + diffusion_pytorch_model.safetensors).
UNetSpatioTemporalConditionModel load_unet_svd(const std::filesystem::path& folder);

}  // namespace osv
