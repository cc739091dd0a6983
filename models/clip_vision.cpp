#include "models/clip_vision.h"

#include "models/nn_util.h"
#include "models/safetensors.h"
#include "models/weights.h"

namespace osv {
namespace F = torch::nn::functional;

ClipVisionConfig ClipVisionConfig::from_json(const nlohmann::json& j0) {
  // A full CLIPConfig nests the vision part under "vision_config".
  const nlohmann::json& j = j0.contains("vision_config") ? j0.at("vision_config") : j0;
  ClipVisionConfig c;
  c.hidden_size = config_value(j, "hidden_size", c.hidden_size);
  c.intermediate_size = config_value(j, "intermediate_size", c.intermediate_size);
  c.num_hidden_layers = config_value(j, "num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = config_value(j, "num_attention_heads", c.num_attention_heads);
  c.image_size = config_value(j, "image_size", c.image_size);
  c.patch_size = config_value(j, "patch_size", c.patch_size);
  c.num_channels = config_value(j, "num_channels", c.num_channels);
  c.projection_dim = config_value(j, "projection_dim", config_value(j0, "projection_dim", c.projection_dim));
  c.layer_norm_eps = config_value(j, "layer_norm_eps", c.layer_norm_eps);
  c.hidden_act = config_value(j, "hidden_act", c.hidden_act);
  return c;
}

namespace clip_detail {
using namespace torch::nn;

struct EmbeddingsImpl : Module {
  explicit EmbeddingsImpl(const ClipVisionConfig& c) {
    class_embedding = register_parameter("class_embedding", torch::zeros({c.hidden_size}));
    patch_embedding = register_module(
        "patch_embedding",
        Conv2d(Conv2dOptions(c.num_channels, c.hidden_size, c.patch_size).stride(c.patch_size).bias(false)));
    const int64_t n = (c.image_size / c.patch_size) * (c.image_size / c.patch_size) + 1;
    position_embedding = register_module("position_embedding", Embedding(n, c.hidden_size));
  }
  // pixel_values: [B, 3, S, S] -> [B, N, D]
  torch::Tensor forward(const torch::Tensor& pixel_values) {
    const auto B = pixel_values.size(0);
    auto x = patch_embedding(pixel_values.to(patch_embedding->weight.scalar_type())).flatten(2).transpose(1, 2);
    x = torch::cat({class_embedding.expand({B, 1, -1}), x}, 1);
    return x + position_embedding->weight.unsqueeze(0);
  }
  torch::Tensor class_embedding;
  Conv2d patch_embedding{nullptr};
  Embedding position_embedding{nullptr};
};

struct AttentionImpl : Module {
  explicit AttentionImpl(const ClipVisionConfig& c) : heads(c.num_attention_heads) {
    q_proj = register_module("q_proj", Linear(c.hidden_size, c.hidden_size));
    k_proj = register_module("k_proj", Linear(c.hidden_size, c.hidden_size));
    v_proj = register_module("v_proj", Linear(c.hidden_size, c.hidden_size));
    out_proj = register_module("out_proj", Linear(c.hidden_size, c.hidden_size));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return out_proj(multi_head_attention(q_proj(x), k_proj(x), v_proj(x), heads));
  }
  int64_t heads;
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
};

struct MlpImpl : Module {
  explicit MlpImpl(const ClipVisionConfig& c) : act(c.hidden_act) {
    fc1 = register_module("fc1", Linear(c.hidden_size, c.intermediate_size));
    fc2 = register_module("fc2", Linear(c.intermediate_size, c.hidden_size));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2(activation(fc1(x), act)); }
  std::string act;
  Linear fc1{nullptr}, fc2{nullptr};
};

struct LayerImpl : Module {
  explicit LayerImpl(const ClipVisionConfig& c) {
    auto ln = LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps);
    self_attn = register_module("self_attn", std::make_shared<AttentionImpl>(c));
    layer_norm1 = register_module("layer_norm1", LayerNorm(ln));
    mlp = register_module("mlp", std::make_shared<MlpImpl>(c));
    layer_norm2 = register_module("layer_norm2", LayerNorm(ln));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = x + self_attn->forward(layer_norm1(x));
    return x + mlp->forward(layer_norm2(x));
  }
  std::shared_ptr<AttentionImpl> self_attn;
  std::shared_ptr<MlpImpl> mlp;
  LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
};

struct EncoderImpl : Module {
  explicit EncoderImpl(const ClipVisionConfig& c) {
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(std::make_shared<LayerImpl>(c));
    register_module("layers", layers);
  }
  ModuleList layers;
};

struct VisionTransformerImpl : Module {
  explicit VisionTransformerImpl(const ClipVisionConfig& c) {
    auto ln = LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps);
    embeddings = register_module("embeddings", std::make_shared<EmbeddingsImpl>(c));
    pre_layrnorm = register_module("pre_layrnorm", LayerNorm(ln));  // sic: the checkpoint's spelling
    encoder = register_module("encoder", std::make_shared<EncoderImpl>(c));
    post_layernorm = register_module("post_layernorm", LayerNorm(ln));
  }
  std::shared_ptr<EmbeddingsImpl> embeddings;
  LayerNorm pre_layrnorm{nullptr}, post_layernorm{nullptr};
  std::shared_ptr<EncoderImpl> encoder;
};

}  // namespace clip_detail

ClipVisionModelWithProjectionImpl::ClipVisionModelWithProjectionImpl(ClipVisionConfig config)
    : config_(std::move(config)) {
  vision_model_ = register_module("vision_model", std::make_shared<clip_detail::VisionTransformerImpl>(config_));
  visual_projection_ = register_module(
      "visual_projection",
      torch::nn::Linear(torch::nn::LinearOptions(config_.hidden_size, config_.projection_dim).bias(false)));
}

ClipVisionOutput ClipVisionModelWithProjectionImpl::forward(const torch::Tensor& pixel_values) {
  auto x = vision_model_->pre_layrnorm(vision_model_->embeddings->forward(pixel_values));
  for (const auto& m : *vision_model_->encoder->layers) x = m->as<clip_detail::LayerImpl>()->forward(x);
  ClipVisionOutput out;
  out.last_hidden_state = x;
  out.image_embeds = visual_projection_(vision_model_->post_layernorm(x.select(1, 0)));
  return out;
}

ClipVisionModelWithProjection load_clip_vision(const std::filesystem::path& folder) {
  return load_pretrained<ClipVisionModelWithProjection, ClipVisionConfig>(folder);
}

namespace {

// Normalised 1-D Gaussian of odd size k: [k]
torch::Tensor gaussian_kernel(int64_t k, double sigma, const torch::TensorOptions& opt) {
  auto x = torch::arange(k, opt) - static_cast<double>(k / 2);
  auto s = torch::full({1}, sigma, opt);
  auto g = torch::exp(-x.pow(2.0) / (2 * s.pow(2.0)));
  return g / g.sum();
}

// Depthwise filter with reflect padding; kernel [kh, kw]. x: [B, C, H, W]
torch::Tensor filter2d(const torch::Tensor& x, const torch::Tensor& kernel) {
  const auto C = x.size(1), kh = kernel.size(0), kw = kernel.size(1);
  const int64_t pw = (kw - 1) / 2, ph = (kh - 1) / 2;
  auto padded = F::pad(x, F::PadFuncOptions({pw, kw - 1 - pw, ph, kh - 1 - ph}).mode(torch::kReflect));
  auto w = kernel.to(x.options()).view({1, 1, kh, kw}).expand({C, 1, kh, kw}).contiguous();
  return F::conv2d(padded, w, F::Conv2dFuncOptions().groups(C));
}

}  // namespace

torch::Tensor resize_with_antialiasing(const torch::Tensor& x, int64_t height, int64_t width) {
  const double fy = static_cast<double>(x.size(-2)) / height, fx = static_cast<double>(x.size(-1)) / width;
  const double sy = std::max((fy - 1.0) / 2.0, 0.001), sx = std::max((fx - 1.0) / 2.0, 0.001);
  auto ky = static_cast<int64_t>(std::max(2.0 * 2 * sy, 3.0)), kx = static_cast<int64_t>(std::max(2.0 * 2 * sx, 3.0));
  if (ky % 2 == 0) ++ky;
  if (kx % 2 == 0) ++kx;
  // sigma in the input dtype, as the reference computes it
  const auto host = x.options().device(torch::kCPU);  // a rounding, not data: no device round trip
  const double sy_t = torch::tensor(sy, host).item<double>(), sx_t = torch::tensor(sx, host).item<double>();
  auto blurred = filter2d(x, gaussian_kernel(kx, sx_t, x.options()).view({1, kx}));
  blurred = filter2d(blurred, gaussian_kernel(ky, sy_t, x.options()).view({ky, 1}));
  return F::interpolate(blurred, F::InterpolateFuncOptions()
                                     .size(std::vector<int64_t>{height, width})
                                     .mode(torch::kBicubic)
                                     .align_corners(true));
}

torch::Tensor svd_clip_preprocess(const torch::Tensor& images01, int64_t size, const ClipNormalisation& norm) {
  auto x = resize_with_antialiasing(images01 * 2.0 - 1.0, size, size);
  x = (x + 1.0) / 2.0;
  auto mean = torch::tensor({norm.mean[0], norm.mean[1], norm.mean[2]}, x.options()).view({1, 3, 1, 1});
  auto std = torch::tensor({norm.std[0], norm.std[1], norm.std[2]}, x.options()).view({1, 3, 1, 1});
  return (x - mean) / std;
}

}  // namespace osv
