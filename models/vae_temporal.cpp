#include "models/vae_temporal.h"

#include <fmt/format.h>

#include "common/errors.h"
#include "models/nn_util.h"
#include "models/safetensors.h"
#include "models/svd_blocks.h"
#include "models/weights.h"

namespace osv {

VaeTemporalConfig VaeTemporalConfig::from_json(const nlohmann::json& j) {
  VaeTemporalConfig c;
  c.in_channels = config_value(j, "in_channels", c.in_channels);
  c.out_channels = config_value(j, "out_channels", c.out_channels);
  c.block_out_channels = config_value(j, "block_out_channels", c.block_out_channels);
  c.layers_per_block = config_value(j, "layers_per_block", c.layers_per_block);
  c.latent_channels = config_value(j, "latent_channels", c.latent_channels);
  c.scaling_factor = config_value(j, "scaling_factor", c.scaling_factor);
  if (j.contains("down_block_types"))
    for (const auto& t : j.at("down_block_types"))
      if (t.get<std::string>() != "DownEncoderBlock2D")
        throw InputError(fmt::format("vae config: unsupported down block '{}'", t.get<std::string>()));
  return c;
}

torch::Tensor LatentDistribution::sample(const torch::Generator& gen) const {
  auto eps = gen.defined() ? torch::randn(mean.sizes(), gen, mean.options()) : torch::randn_like(mean);
  return mean + std() * eps;
}

namespace vae_detail {
using namespace svd_blocks;

// Single-head spatial self-attention with GroupNorm and residual (diffusers Attention as built
// for VAE mid blocks). x: [N, C, h, w]
struct AttentionImpl : Module {
  explicit AttentionImpl(int64_t c) {
    group_norm = register_module("group_norm", GroupNorm(GroupNormOptions(32, c).eps(1e-6)));
    to_q = register_module("to_q", Linear(c, c));
    to_k = register_module("to_k", Linear(c, c));
    to_v = register_module("to_v", Linear(c, c));
    to_out->push_back(Linear(c, c));
    to_out->push_back(Dropout(0.0));
    register_module("to_out", to_out);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const auto N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    auto h = group_norm(x).view({N, C, H * W}).transpose(1, 2);  // [N, hw, C]
    h = multi_head_attention(to_q(h), to_k(h), to_v(h), 1);
    h = to_out[0]->as<Linear>()->forward(h);
    return h.transpose(1, 2).reshape({N, C, H, W}) + x;
  }
  GroupNorm group_norm{nullptr};
  Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  ModuleList to_out;
};

// Zero-pad right/bottom by one, then 3x3 stride-2 conv (Downsample2D with padding=0).
struct DownsampleImpl : Module {
  explicit DownsampleImpl(int64_t c) { conv = register_module("conv", Conv2d(Conv2dOptions(c, c, 3).stride(2))); }
  torch::Tensor forward(const torch::Tensor& x) { return conv(F::pad(x, F::PadFuncOptions({0, 1, 0, 1}))); }
  Conv2d conv{nullptr};
};

struct DownEncoderBlockImpl : Module {
  DownEncoderBlockImpl(int64_t in, int64_t out, int64_t layers, bool downsample) {
    for (int64_t l = 0; l < layers; ++l) resnets->push_back(std::make_shared<ResnetBlock2DImpl>(l ? out : in, out, 0, 1e-6));
    register_module("resnets", resnets);
    if (downsample) {
      downsamplers->push_back(std::make_shared<DownsampleImpl>(out));
      register_module("downsamplers", downsamplers);
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    for (const auto& r : *resnets) x = r->as<ResnetBlock2DImpl>()->forward(x, {});
    if (!downsamplers->is_empty()) x = downsamplers[0]->as<DownsampleImpl>()->forward(x);
    return x;
  }
  ModuleList resnets, downsamplers;
};

// resnet, (attention, resnet) — UNetMidBlock2D without time embedding.
struct MidBlock2DImpl : Module {
  explicit MidBlock2DImpl(int64_t c) {
    resnets->push_back(std::make_shared<ResnetBlock2DImpl>(c, c, 0, 1e-6));
    resnets->push_back(std::make_shared<ResnetBlock2DImpl>(c, c, 0, 1e-6));
    attentions->push_back(std::make_shared<AttentionImpl>(c));
    register_module("attentions", attentions);
    register_module("resnets", resnets);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = resnets[0]->as<ResnetBlock2DImpl>()->forward(x, {});
    x = attentions[0]->as<AttentionImpl>()->forward(x);
    return resnets[1]->as<ResnetBlock2DImpl>()->forward(x, {});
  }
  ModuleList resnets, attentions;
};

struct EncoderImpl : Module {
  explicit EncoderImpl(const VaeTemporalConfig& c) {
    const auto& ch = c.block_out_channels;
    conv_in = register_module("conv_in", Conv2d(Conv2dOptions(c.in_channels, ch[0], 3).padding(1)));
    int64_t out = ch[0];
    for (std::size_t i = 0; i < ch.size(); ++i) {
      const int64_t in = out;
      out = ch[i];
      down_blocks->push_back(std::make_shared<DownEncoderBlockImpl>(in, out, c.layers_per_block, i + 1 < ch.size()));
    }
    register_module("down_blocks", down_blocks);
    mid_block = register_module("mid_block", std::make_shared<MidBlock2DImpl>(ch.back()));
    conv_norm_out = register_module("conv_norm_out", GroupNorm(GroupNormOptions(32, ch.back()).eps(1e-6)));
    conv_out = register_module("conv_out", Conv2d(Conv2dOptions(ch.back(), 2 * c.latent_channels, 3).padding(1)));
  }
  // x: [N, 3, H, W] -> moments [N, 2Z, h, w] (before quant_conv)
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = conv_in(x);
    for (const auto& b : *down_blocks) h = b->as<DownEncoderBlockImpl>()->forward(h);
    h = mid_block->forward(h);
    return conv_out(torch::silu(conv_norm_out(h)));
  }
  Conv2d conv_in{nullptr}, conv_out{nullptr};
  ModuleList down_blocks;
  std::shared_ptr<MidBlock2DImpl> mid_block;
  GroupNorm conv_norm_out{nullptr};
};

std::shared_ptr<SpatioTemporalResBlockImpl> decoder_resblock(int64_t in, int64_t out) {
  return std::make_shared<SpatioTemporalResBlockImpl>(in, out, /*temb=*/0, /*eps=*/1e-6, /*temporal_eps=*/1e-5,
                                                      /*mix_init=*/0.0, /*switch_mix=*/true);
}

// resnets[0], then (attention, resnet) pairs while both exist, as diffusers zips them.
struct MidBlockTemporalDecoderImpl : Module {
  MidBlockTemporalDecoderImpl(int64_t c, int64_t layers) {
    for (int64_t l = 0; l < layers; ++l) resnets->push_back(decoder_resblock(c, c));
    attentions->push_back(std::make_shared<AttentionImpl>(c));
    register_module("attentions", attentions);
    register_module("resnets", resnets);
  }
  torch::Tensor forward(torch::Tensor x, int64_t frames) {
    x = resnets[0]->as<SpatioTemporalResBlockImpl>()->forward(x, {}, frames);
    for (std::size_t i = 1; i < resnets->size() && i - 1 < attentions->size(); ++i) {
      x = attentions[i - 1]->as<AttentionImpl>()->forward(x);
      x = resnets[i]->as<SpatioTemporalResBlockImpl>()->forward(x, {}, frames);
    }
    return x;
  }
  ModuleList resnets, attentions;
};

struct UpBlockTemporalDecoderImpl : Module {
  UpBlockTemporalDecoderImpl(int64_t in, int64_t out, int64_t layers, bool upsample) {
    for (int64_t l = 0; l < layers; ++l) resnets->push_back(decoder_resblock(l ? out : in, out));
    register_module("resnets", resnets);
    if (upsample) {
      upsamplers->push_back(std::make_shared<UpsampleImpl>(out));
      register_module("upsamplers", upsamplers);
    }
  }
  torch::Tensor forward(torch::Tensor x, int64_t frames) {
    for (const auto& r : *resnets) x = r->as<SpatioTemporalResBlockImpl>()->forward(x, {}, frames);
    if (!upsamplers->is_empty()) x = upsamplers[0]->as<UpsampleImpl>()->forward(x);
    return x;
  }
  ModuleList resnets, upsamplers;
};

struct TemporalDecoderImpl : Module {
  explicit TemporalDecoderImpl(const VaeTemporalConfig& c) {
    const auto& ch = c.block_out_channels;
    conv_in = register_module("conv_in", Conv2d(Conv2dOptions(c.latent_channels, ch.back(), 3).padding(1)));
    mid_block = register_module("mid_block", std::make_shared<MidBlockTemporalDecoderImpl>(ch.back(), c.layers_per_block));
    std::vector<int64_t> rch(ch.rbegin(), ch.rend());
    int64_t out = rch[0];
    for (std::size_t i = 0; i < rch.size(); ++i) {
      const int64_t prev = out;
      out = rch[i];
      up_blocks->push_back(
          std::make_shared<UpBlockTemporalDecoderImpl>(prev, out, c.layers_per_block + 1, i + 1 < rch.size()));
    }
    register_module("up_blocks", up_blocks);
    conv_norm_out = register_module("conv_norm_out", GroupNorm(GroupNormOptions(32, ch[0]).eps(1e-6)));
    conv_out = register_module("conv_out", Conv2d(Conv2dOptions(ch[0], c.out_channels, 3).padding(1)));
    time_conv_out = register_module(
        "time_conv_out", Conv3d(Conv3dOptions(c.out_channels, c.out_channels, {3, 1, 1}).padding({1, 0, 0})));
  }
  // z: [B*T, Z, h, w] -> [B*T, 3, H, W]
  torch::Tensor forward(const torch::Tensor& z, int64_t frames) {
    auto h = mid_block->forward(conv_in(z), frames);
    for (const auto& b : *up_blocks) h = b->as<UpBlockTemporalDecoderImpl>()->forward(h, frames);
    h = conv_out(torch::silu(conv_norm_out(h)));
    const auto BT = h.size(0), C = h.size(1), H = h.size(2), W = h.size(3), B = BT / frames;
    h = time_conv_out(h.reshape({B, frames, C, H, W}).permute({0, 2, 1, 3, 4}));
    return h.permute({0, 2, 1, 3, 4}).reshape({BT, C, H, W});
  }
  Conv2d conv_in{nullptr}, conv_out{nullptr};
  Conv3d time_conv_out{nullptr};
  std::shared_ptr<MidBlockTemporalDecoderImpl> mid_block;
  ModuleList up_blocks;
  GroupNorm conv_norm_out{nullptr};
};

}  // namespace vae_detail

AutoencoderKLTemporalDecoderImpl::AutoencoderKLTemporalDecoderImpl(VaeTemporalConfig config) : config_(std::move(config)) {
  encoder_ = register_module("encoder", std::make_shared<vae_detail::EncoderImpl>(config_));
  decoder_ = register_module("decoder", std::make_shared<vae_detail::TemporalDecoderImpl>(config_));
  quant_conv_ = register_module(
      "quant_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(2 * config_.latent_channels, 2 * config_.latent_channels, 1)));
}

LatentDistribution AutoencoderKLTemporalDecoderImpl::encode(const torch::Tensor& images) {
  auto moments = quant_conv_(encoder_->forward(images)).chunk(2, 1);
  return LatentDistribution{moments[0], torch::clamp(moments[1], -30.0, 20.0)};
}

torch::Tensor AutoencoderKLTemporalDecoderImpl::decode(const torch::Tensor& z, int64_t num_frames) {
  if (num_frames <= 0 || z.size(0) % num_frames != 0)
    throw std::invalid_argument(fmt::format("vae decode: {} latents are not a whole number of {}-frame videos",
                                            z.size(0), num_frames));
  return decoder_->forward(z, num_frames);
}

torch::Tensor AutoencoderKLTemporalDecoderImpl::decode_video(const torch::Tensor& z, int64_t chunk) {
  const auto B = z.size(0), T = z.size(1);
  if (chunk <= 0 || chunk > T) chunk = T;
  std::vector<torch::Tensor> videos;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<torch::Tensor> parts;
    for (int64_t t = 0; t < T; t += chunk) {
      auto zc = z[b].slice(0, t, std::min(T, t + chunk));  // [t', Z, h, w]
      parts.push_back(decode(zc, zc.size(0)));
    }
    videos.push_back(torch::cat(parts, 0));
  }
  return torch::stack(videos, 0);
}

AutoencoderKLTemporalDecoder load_vae_temporal(const std::filesystem::path& folder) {
  return load_pretrained<AutoencoderKLTemporalDecoder, VaeTemporalConfig>(folder);
}

}  // namespace osv
