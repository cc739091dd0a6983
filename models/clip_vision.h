// CLIP vision tower with projection (transformers `CLIPVisionModelWithProjection`), the SVD
// image encoder, with the SVD pipeline's image preprocessing. Parameter names as in the
// published checkpoints: vision_model.{embeddings, pre_layrnorm, encoder.layers.N, post_layernorm},
// visual_projection.
//
// Dimension legend: B batch, H, W pixels, S model input size, N tokens (1 + patches), D width,
// E projection width.
#pragma once

#include <torch/torch.h>

#include <array>
#include <filesystem>

#include <nlohmann/json.hpp>

namespace osv {

struct ClipVisionConfig {
  int64_t hidden_size = 1280;
  int64_t intermediate_size = 5120;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 16;
  int64_t image_size = 224;
  int64_t patch_size = 14;
  int64_t num_channels = 3;
  int64_t projection_dim = 1024;
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "gelu";
  static ClipVisionConfig from_json(const nlohmann::json& j);
};

struct ClipVisionOutput {
  torch::Tensor image_embeds;       // [B, E]
  torch::Tensor last_hidden_state;  // [B, N, D]
};

namespace clip_detail {
struct VisionTransformerImpl;
}

class ClipVisionModelWithProjectionImpl : public torch::nn::Module {
 public:
  explicit ClipVisionModelWithProjectionImpl(ClipVisionConfig config);
  // pixel_values: [B, 3, S, S], already normalised
  ClipVisionOutput forward(const torch::Tensor& pixel_values);
  const ClipVisionConfig& config() const { return config_; }

 private:
  ClipVisionConfig config_;
  std::shared_ptr<clip_detail::VisionTransformerImpl> vision_model_;
  torch::nn::Linear visual_projection_{nullptr};
};
TORCH_MODULE(ClipVisionModelWithProjection);

ClipVisionModelWithProjection load_clip_vision(const std::filesystem::path& folder);

// The SVD pipeline's image path (diffusers StableVideoDiffusionPipeline._encode_image):
// [0,1] images [B, 3, H, W] -> [-1,1] -> Gaussian-antialiased bicubic resize to size x size
// (align_corners) -> [0,1] -> (x - mean) / std. Returns pixel_values [B, 3, size, size].
struct ClipNormalisation {
  std::array<double, 3> mean{0.48145466, 0.4578275, 0.40821073};
  std::array<double, 3> std{0.26862954, 0.26130258, 0.27577711};
};
torch::Tensor svd_clip_preprocess(const torch::Tensor& images01, int64_t size, const ClipNormalisation& norm = {});

// diffusers' _resize_with_antialiasing: Gaussian blur (sigma = max((in/out - 1)/2, 0.001),
// odd kernel >= 3, reflect padding) then bicubic interpolation with align_corners=true.
torch::Tensor resize_with_antialiasing(const torch::Tensor& x, int64_t height, int64_t width);

}  // namespace osv
