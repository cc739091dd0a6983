// DINOv2 ViT (transformers `Dinov2Model`), parameter names as in the published checkpoints
// (facebook/dinov2-*): embeddings.*, encoder.layer.N.attention.attention.{query,key,value},
// attention.output.dense, layer_scale{1,2}.lambda1, mlp.fc1/fc2 (or SwiGLU weights_in/out),
// layernorm. Used frozen as the latent discriminator's backbone (SPEC §3).
//
// Dimension legend: B batch, C=3 channels, H, W pixels, P patch, N = (H/P)(W/P) patches, D width.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

namespace osv {

struct Dinov2Config {
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  double mlp_ratio = 4.0;
  int64_t image_size = 518;
  int64_t patch_size = 14;
  int64_t num_channels = 3;
  double layer_norm_eps = 1e-6;
  bool qkv_bias = true;
  bool use_swiglu_ffn = false;
  std::string hidden_act = "gelu";
  static Dinov2Config from_json(const nlohmann::json& j);
};

struct Dinov2Output {
  torch::Tensor last_hidden_state;           // [B, 1+N, D], after the final layernorm
  torch::Tensor pooler_output;               // [B, D], CLS token of last_hidden_state
  std::vector<torch::Tensor> hidden_states;  // num_hidden_layers+1 of [B, 1+N, D]: embeddings, then each layer
};

namespace dinov2_detail {
struct EmbeddingsImpl;
struct EncoderImpl;
}  // namespace dinov2_detail

class Dinov2ModelImpl : public torch::nn::Module {
 public:
  explicit Dinov2ModelImpl(Dinov2Config config);
  // pixel_values: [B, 3, H, W] with H, W multiples of the patch size. With
  // `output_hidden_states` false, hidden_states is left empty. bool_masked_pos [B, N]: patches
  // whose embedding is replaced by `mask_token` (masked-image-modelling pretraining).
  Dinov2Output forward(const torch::Tensor& pixel_values, bool output_hidden_states = false,
                       const torch::Tensor& bool_masked_pos = {});
  const Dinov2Config& config() const { return config_; }

 private:
  Dinov2Config config_;
  std::shared_ptr<dinov2_detail::EmbeddingsImpl> embeddings_;
  std::shared_ptr<dinov2_detail::EncoderImpl> encoder_;
  torch::nn::LayerNorm layernorm_{nullptr};
};
TORCH_MODULE(Dinov2Model);

// Builds from a transformers folder (config.json + model.safetensors) and loads the weights.
Dinov2Model load_dinov2(const std::filesystem::path& folder);

}  // namespace osv
