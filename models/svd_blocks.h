// The spatio-temporal building blocks that the SVD UNet and the temporal VAE decoder share,
// with diffusers' parameter names (resnet.py, activations.py, embeddings.py). Included only by
// the architecture .cpp files.
//
// Dimension legend: B batch, T frames, C channels, h, w spatial size, E time-embedding width.
#pragma once

#include <torch/torch.h>

#include "models/lora.h"

namespace osv::svd_blocks {
using namespace torch::nn;
namespace F = torch::nn::functional;

// linear_1 -> SiLU -> linear_2 (diffusers TimestepEmbedding)
struct TimestepEmbeddingImpl : Module {
  TimestepEmbeddingImpl(int64_t in, int64_t hidden, int64_t out) {
    linear_1 = register_module("linear_1", Linear(in, hidden));
    linear_2 = register_module("linear_2", Linear(hidden, out));
  }
  torch::Tensor forward(const torch::Tensor& x) { return lora_call(linear_2, torch::silu(lora_call(linear_1, x))); }
  Linear linear_1{nullptr}, linear_2{nullptr};
};

inline GroupNorm group_norm(int64_t channels, double eps) { return GroupNorm(GroupNormOptions(32, channels).eps(eps)); }

// diffusers ResnetBlock2D with the default time-embedding addition (temb = 0: none, as in the
// VAE). x: [N, C, h, w], temb: [N, E] or undefined
struct ResnetBlock2DImpl : Module {
  ResnetBlock2DImpl(int64_t in, int64_t out, int64_t temb, double eps) {
    norm1 = register_module("norm1", group_norm(in, eps));
    conv1 = register_module("conv1", Conv2d(Conv2dOptions(in, out, 3).padding(1)));
    if (temb > 0) time_emb_proj = register_module("time_emb_proj", Linear(temb, out));
    norm2 = register_module("norm2", group_norm(out, eps));
    conv2 = register_module("conv2", Conv2d(Conv2dOptions(out, out, 3).padding(1)));
    if (in != out) conv_shortcut = register_module("conv_shortcut", Conv2d(Conv2dOptions(in, out, 1)));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb) {
    auto h = lora_call(conv1, torch::silu(norm1(x)));
    if (time_emb_proj) h = h + lora_call(time_emb_proj, torch::silu(temb)).unsqueeze(-1).unsqueeze(-1);
    h = lora_call(conv2, torch::silu(norm2(h)));
    return (conv_shortcut ? lora_call(conv_shortcut, x) : x) + h;
  }
  GroupNorm norm1{nullptr}, norm2{nullptr};
  Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  Linear time_emb_proj{nullptr};
};

// Convolutions over frames only (kernel 3x1x1). x: [B, C, T, h, w], temb: [B, T, E] or undefined
struct TemporalResnetBlockImpl : Module {
  TemporalResnetBlockImpl(int64_t channels, int64_t temb, double eps) {
    auto conv = Conv3dOptions(channels, channels, {3, 1, 1}).padding({1, 0, 0});
    norm1 = register_module("norm1", group_norm(channels, eps));
    conv1 = register_module("conv1", Conv3d(conv));
    if (temb > 0) time_emb_proj = register_module("time_emb_proj", Linear(temb, channels));
    norm2 = register_module("norm2", group_norm(channels, eps));
    conv2 = register_module("conv2", Conv3d(conv));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb) {
    auto h = lora_call(conv1, torch::silu(norm1(x)));
    // [B, T, C] -> [B, C, T, 1, 1]
    if (time_emb_proj) h = h + lora_call(time_emb_proj, torch::silu(temb)).permute({0, 2, 1}).unsqueeze(-1).unsqueeze(-1);
    h = lora_call(conv2, torch::silu(norm2(h)));
    return x + h;
  }
  GroupNorm norm1{nullptr}, norm2{nullptr};
  Conv3d conv1{nullptr}, conv2{nullptr};
  Linear time_emb_proj{nullptr};
};

// Learned blend of spatial and temporal paths on video frames: alpha = sigmoid(mix_factor),
// or 1 - sigmoid(mix_factor) with `switch_mix` (the temporal VAE decoder).
struct AlphaBlenderImpl : Module {
  explicit AlphaBlenderImpl(double init = 0.5, bool switch_mix = false) : switch_mix(switch_mix) {
    mix_factor = register_parameter("mix_factor", torch::full({1}, init));
  }
  torch::Tensor forward(const torch::Tensor& spatial, const torch::Tensor& temporal) {
    auto a = torch::sigmoid(mix_factor).to(spatial.scalar_type());
    if (switch_mix) a = 1.0 - a;
    return a * spatial + (1.0 - a) * temporal;
  }
  bool switch_mix;
  torch::Tensor mix_factor;
};

struct SpatioTemporalResBlockImpl : Module {
  // temporal_eps < 0: same as eps. The UNet uses the defaults; the VAE decoder has no time
  // embedding, temporal_eps 1e-5, mix 0.0 and the switched blend.
  SpatioTemporalResBlockImpl(int64_t in, int64_t out, int64_t temb, double eps, double temporal_eps = -1,
                             double mix_init = 0.5, bool switch_mix = false) {
    spatial_res_block = register_module("spatial_res_block", std::make_shared<ResnetBlock2DImpl>(in, out, temb, eps));
    temporal_res_block = register_module(
        "temporal_res_block", std::make_shared<TemporalResnetBlockImpl>(out, temb, temporal_eps < 0 ? eps : temporal_eps));
    time_mixer = register_module("time_mixer", std::make_shared<AlphaBlenderImpl>(mix_init, switch_mix));
  }
  // x: [B*T, C, h, w], temb: [B*T, E] or undefined
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb, int64_t frames) {
    auto h = spatial_res_block->forward(x, temb);
    const auto BT = h.size(0), C = h.size(1), H = h.size(2), W = h.size(3), B = BT / frames;
    auto spatial = h.reshape({B, frames, C, H, W}).permute({0, 2, 1, 3, 4});  // [B, C, T, h, w]
    auto temporal = temporal_res_block->forward(spatial, temb.defined() ? temb.reshape({B, frames, -1}) : temb);
    return time_mixer->forward(spatial, temporal).permute({0, 2, 1, 3, 4}).reshape({BT, C, H, W});
  }
  std::shared_ptr<ResnetBlock2DImpl> spatial_res_block;
  std::shared_ptr<TemporalResnetBlockImpl> temporal_res_block;
  std::shared_ptr<AlphaBlenderImpl> time_mixer;
};

// Nearest 2x (or to `size`) then 3x3 conv (diffusers Upsample2D with use_conv).
struct UpsampleImpl : Module {
  explicit UpsampleImpl(int64_t c) { conv = register_module("conv", Conv2d(Conv2dOptions(c, c, 3).padding(1))); }
  torch::Tensor forward(const torch::Tensor& x, std::optional<std::vector<int64_t>> size = std::nullopt) {
    auto o = F::InterpolateFuncOptions().mode(torch::kNearest);
    if (size) o.size(*size); else o.scale_factor(std::vector<double>{2.0, 2.0});
    return lora_call(conv, F::interpolate(x, o));
  }
  Conv2d conv{nullptr};
};

}  // namespace osv::svd_blocks
