#include "models/dinov2.h"

#include "models/nn_util.h"
#include "models/safetensors.h"
#include "models/weights.h"

namespace osv {

Dinov2Config Dinov2Config::from_json(const nlohmann::json& j) {
  Dinov2Config c;
  c.hidden_size = config_value(j, "hidden_size", c.hidden_size);
  c.num_hidden_layers = config_value(j, "num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = config_value(j, "num_attention_heads", c.num_attention_heads);
  c.mlp_ratio = config_value(j, "mlp_ratio", c.mlp_ratio);
  c.image_size = config_value(j, "image_size", c.image_size);
  c.patch_size = config_value(j, "patch_size", c.patch_size);
  c.num_channels = config_value(j, "num_channels", c.num_channels);
  c.layer_norm_eps = config_value(j, "layer_norm_eps", c.layer_norm_eps);
  c.qkv_bias = config_value(j, "qkv_bias", c.qkv_bias);
  c.use_swiglu_ffn = config_value(j, "use_swiglu_ffn", c.use_swiglu_ffn);
  c.hidden_act = config_value(j, "hidden_act", c.hidden_act);
  return c;
}

namespace dinov2_detail {
using namespace torch::nn;

struct PatchEmbeddingsImpl : Module {
  explicit PatchEmbeddingsImpl(const Dinov2Config& c) {
    projection = register_module(
        "projection", Conv2d(Conv2dOptions(c.num_channels, c.hidden_size, c.patch_size).stride(c.patch_size)));
  }
  Conv2d projection{nullptr};
};

struct EmbeddingsImpl : Module {
  explicit EmbeddingsImpl(const Dinov2Config& c) : config(c) {
    const int64_t n = (c.image_size / c.patch_size) * (c.image_size / c.patch_size);
    cls_token = register_parameter("cls_token", torch::zeros({1, 1, c.hidden_size}));
    mask_token = register_parameter("mask_token", torch::zeros({1, c.hidden_size}));
    position_embeddings = register_parameter("position_embeddings", torch::zeros({1, n + 1, c.hidden_size}));
    patch_embeddings = register_module("patch_embeddings", std::make_shared<PatchEmbeddingsImpl>(c));
  }

  // Bicubic resize of the patch position grid to (H/P, W/P), in float32 as the reference does.
  torch::Tensor interpolate_pos_encoding(int64_t num_patches, int64_t height, int64_t width) const {
    const int64_t num_positions = position_embeddings.size(1) - 1;
    if (num_patches == num_positions && height == width) return position_embeddings;
    const int64_t D = position_embeddings.size(2);
    auto cls = position_embeddings.slice(1, 0, 1);
    const auto side = static_cast<int64_t>(std::sqrt(static_cast<double>(num_positions)));
    auto grid = position_embeddings.slice(1, 1).reshape({1, side, side, D}).permute({0, 3, 1, 2});
    const auto dtype = grid.scalar_type();
    grid = torch::nn::functional::interpolate(
        grid.to(torch::kFloat32), functional::InterpolateFuncOptions()
                                      .size(std::vector<int64_t>{height / config.patch_size, width / config.patch_size})
                                      .mode(torch::kBicubic)
                                      .align_corners(false));
    grid = grid.to(dtype).permute({0, 2, 3, 1}).reshape({1, -1, D});
    return torch::cat({cls, grid}, 1);
  }

  // pixel_values: [B, 3, H, W] (bool_masked_pos [B, N]: patches replaced by mask_token) -> [B, 1+N, D]
  torch::Tensor forward(const torch::Tensor& pixel_values, const torch::Tensor& bool_masked_pos = {}) {
    const auto B = pixel_values.size(0), H = pixel_values.size(2), W = pixel_values.size(3);
    auto x = patch_embeddings->projection(pixel_values.to(patch_embeddings->projection->weight.scalar_type()));
    x = x.flatten(2).transpose(1, 2);  // [B, N, D]
    if (bool_masked_pos.defined())      // as transformers' Dinov2Embeddings: before CLS and positions
      x = torch::where(bool_masked_pos.unsqueeze(-1), mask_token.to(x.scalar_type()).unsqueeze(0), x);
    x = torch::cat({cls_token.expand({B, -1, -1}), x}, 1);
    return x + interpolate_pos_encoding(x.size(1) - 1, H, W);
  }

  Dinov2Config config;
  torch::Tensor cls_token, mask_token, position_embeddings;
  std::shared_ptr<PatchEmbeddingsImpl> patch_embeddings;
};

struct SelfAttentionImpl : Module {
  explicit SelfAttentionImpl(const Dinov2Config& c) {
    auto o = LinearOptions(c.hidden_size, c.hidden_size).bias(c.qkv_bias);
    query = register_module("query", Linear(o));
    key = register_module("key", Linear(o));
    value = register_module("value", Linear(o));
  }
  Linear query{nullptr}, key{nullptr}, value{nullptr};
};

struct SelfOutputImpl : Module {
  explicit SelfOutputImpl(const Dinov2Config& c) {
    dense = register_module("dense", Linear(c.hidden_size, c.hidden_size));
  }
  Linear dense{nullptr};
};

struct AttentionImpl : Module {
  explicit AttentionImpl(const Dinov2Config& c) : heads(c.num_attention_heads) {
    attention = register_module("attention", std::make_shared<SelfAttentionImpl>(c));
    output = register_module("output", std::make_shared<SelfOutputImpl>(c));
  }
  // x: [B, N, D]
  torch::Tensor forward(const torch::Tensor& x) {
    auto o = multi_head_attention(attention->query(x), attention->key(x), attention->value(x), heads);
    return output->dense(o);
  }
  int64_t heads;
  std::shared_ptr<SelfAttentionImpl> attention;
  std::shared_ptr<SelfOutputImpl> output;
};

struct LayerScaleImpl : Module {
  explicit LayerScaleImpl(int64_t d) { lambda1 = register_parameter("lambda1", torch::ones({d})); }
  torch::Tensor lambda1;
};

struct MlpImpl : Module {
  explicit MlpImpl(const Dinov2Config& c) : swiglu(c.use_swiglu_ffn), act(c.hidden_act) {
    if (swiglu) {
      int64_t hidden = static_cast<int64_t>(c.hidden_size * c.mlp_ratio);
      hidden = (hidden * 2 / 3 + 7) / 8 * 8;
      weights_in = register_module("weights_in", Linear(c.hidden_size, 2 * hidden));
      weights_out = register_module("weights_out", Linear(hidden, c.hidden_size));
    } else {
      const auto hidden = static_cast<int64_t>(c.hidden_size * c.mlp_ratio);
      fc1 = register_module("fc1", Linear(c.hidden_size, hidden));
      fc2 = register_module("fc2", Linear(hidden, c.hidden_size));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    if (swiglu) {
      auto h = weights_in(x).chunk(2, -1);
      return weights_out(torch::silu(h[0]) * h[1]);
    }
    return fc2(activation(fc1(x), act));
  }
  bool swiglu;
  std::string act;
  Linear fc1{nullptr}, fc2{nullptr}, weights_in{nullptr}, weights_out{nullptr};
};

struct LayerImpl : Module {
  explicit LayerImpl(const Dinov2Config& c) {
    auto ln = LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps);
    norm1 = register_module("norm1", LayerNorm(ln));
    attention = register_module("attention", std::make_shared<AttentionImpl>(c));
    layer_scale1 = register_module("layer_scale1", std::make_shared<LayerScaleImpl>(c.hidden_size));
    norm2 = register_module("norm2", LayerNorm(ln));
    mlp = register_module("mlp", std::make_shared<MlpImpl>(c));
    layer_scale2 = register_module("layer_scale2", std::make_shared<LayerScaleImpl>(c.hidden_size));
  }
  // x: [B, N, D]
  torch::Tensor forward(torch::Tensor x) {
    x = x + attention->forward(norm1(x)) * layer_scale1->lambda1;
    return x + mlp->forward(norm2(x)) * layer_scale2->lambda1;
  }
  LayerNorm norm1{nullptr}, norm2{nullptr};
  std::shared_ptr<AttentionImpl> attention;
  std::shared_ptr<LayerScaleImpl> layer_scale1, layer_scale2;
  std::shared_ptr<MlpImpl> mlp;
};

struct EncoderImpl : Module {
  explicit EncoderImpl(const Dinov2Config& c) {
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) layer->push_back(std::make_shared<LayerImpl>(c));
    register_module("layer", layer);
  }
  ModuleList layer;
};

}  // namespace dinov2_detail

Dinov2ModelImpl::Dinov2ModelImpl(Dinov2Config config) : config_(std::move(config)) {
  embeddings_ = register_module("embeddings", std::make_shared<dinov2_detail::EmbeddingsImpl>(config_));
  encoder_ = register_module("encoder", std::make_shared<dinov2_detail::EncoderImpl>(config_));
  layernorm_ = register_module(
      "layernorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({config_.hidden_size}).eps(config_.layer_norm_eps)));
}

Dinov2Output Dinov2ModelImpl::forward(const torch::Tensor& pixel_values, bool output_hidden_states,
                                      const torch::Tensor& bool_masked_pos) {
  Dinov2Output out;
  auto x = embeddings_->forward(pixel_values, bool_masked_pos);  // [B, 1+N, D]
  if (output_hidden_states) out.hidden_states.push_back(x);
  for (const auto& m : *encoder_->layer) {
    x = m->as<dinov2_detail::LayerImpl>()->forward(x);
    if (output_hidden_states) out.hidden_states.push_back(x);
  }
  out.last_hidden_state = layernorm_(x);
  out.pooler_output = out.last_hidden_state.select(1, 0);
  return out;
}

Dinov2Model load_dinov2(const std::filesystem::path& folder) {
  return load_pretrained<Dinov2Model, Dinov2Config>(folder);
}

}  // namespace osv
