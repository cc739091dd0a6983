#include "methods/osv/discriminator.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "common/errors.h"
#include "methods/distill/disc_heads.h"

namespace osv {
namespace F = torch::nn::functional;

namespace {

using disc_heads::SpatialHeadImpl;
using disc_heads::StyleGanTSpatialHeadImpl;
using disc_heads::StyleGanTTemporalHeadImpl;
using disc_heads::TemporalHeadImpl;

// ImageNet normalisation of DINOv2's image processor.
torch::Tensor imagenet_normalise(const torch::Tensor& x01) {
  auto mean = torch::tensor({0.485, 0.456, 0.406}, x01.options()).view({1, 3, 1, 1});
  auto std = torch::tensor({0.229, 0.224, 0.225}, x01.options()).view({1, 3, 1, 1});
  return (x01 - mean) / std;
}

}  // namespace

std::vector<int64_t> scaled_taps(const std::vector<int64_t>& taps, int64_t taps_depth, int64_t depth) {
  if (taps_depth <= 0) return taps;
  std::vector<int64_t> out;
  for (auto t : taps) {
    if (t < 0 || t >= taps_depth)
      throw UsageError(fmt::format("disc.taps: block {} is not one of the {} blocks disc.taps_depth names", t, taps_depth));
    const auto s = static_cast<int64_t>(std::llround(static_cast<double>((t + 1) * depth) / static_cast<double>(taps_depth))) - 1;
    if (s < 0 || (!out.empty() && s <= out.back()))
      throw UsageError(fmt::format("disc.taps {} scaled from {} to {} blocks collide; give the backbone's own blocks "
                                   "with disc.taps_depth=0",
                                   fmt::join(taps, ","), taps_depth, depth));
    out.push_back(s);
  }
  return out;
}

LatentDiscriminatorImpl::LatentDiscriminatorImpl(LatentDiscriminatorOptions o, Dinov2Model backbone,
                                                 AutoencoderKLTemporalDecoder vae)
    : o_(std::move(o)), backbone_(std::move(backbone)), vae_(std::move(vae)) {
  const auto& bc = backbone_->config();
  if (o_.input_size % bc.patch_size != 0)
    throw UsageError(fmt::format("disc.input_size {} is not a multiple of the backbone's patch size {}", o_.input_size,
                                 bc.patch_size));
  if (o_.kind != "upsampler" && o_.kind != "decoder")
    throw UsageError(fmt::format("latent discriminator kind '{}': expected upsampler or decoder", o_.kind));
  if (o_.kind == "decoder" && !vae_) throw UsageError("the decoder discriminator needs the VAE");
  if (o_.head_blocks != "stylegan_t" && o_.head_blocks != "plain")
    throw UsageError(fmt::format("disc.head_blocks '{}': expected stylegan_t or plain", o_.head_blocks));
  if (o_.cls_token != "add" && o_.cls_token != "drop")
    throw UsageError(fmt::format("disc.cls_token '{}': expected add or drop", o_.cls_token));
  // Frozen backbone (and VAE): registered so they move with the module, never trained.
  register_module("backbone", backbone_);
  for (auto& p : backbone_->parameters()) p.set_requires_grad(false);
  backbone_->eval();
  if (vae_) {
    register_module("vae", vae_);
    for (auto& p : vae_->parameters()) p.set_requires_grad(false);
    vae_->eval();
  }
  if (o_.kind == "upsampler")
    upsampler_ = register_module(
        "upsampler", torch::nn::Conv2d(torch::nn::Conv2dOptions(o_.latent_channels, 3 * o_.upsample_r * o_.upsample_r, 3)
                                           .padding(1)));
  if (o_.tap_patch_embed) layers_.push_back(0);
  o_.taps = scaled_taps(o_.taps, o_.taps_depth, bc.num_hidden_layers);
  o_.taps_depth = 0;
  for (auto t : o_.taps) {
    if (t < 0 || t >= bc.num_hidden_layers)
      throw UsageError(fmt::format("disc.taps: block {} does not exist (backbone has {} blocks)", t,
                                   bc.num_hidden_layers));
    layers_.push_back(t + 1);  // hidden_states[0] is the embedding, [i + 1] follows block i
  }
  spatial_heads_ = register_module("spatial_heads", torch::nn::ModuleList());
  temporal_heads_ = register_module("temporal_heads", torch::nn::ModuleList());
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (o_.head_blocks == "stylegan_t") {
      spatial_heads_->push_back(std::make_shared<StyleGanTSpatialHeadImpl>(bc.hidden_size, o_.head_channels));
      temporal_heads_->push_back(std::make_shared<StyleGanTTemporalHeadImpl>(bc.hidden_size, o_.head_channels));
    } else {
      spatial_heads_->push_back(std::make_shared<SpatialHeadImpl>(bc.hidden_size, o_.head_channels));
      temporal_heads_->push_back(std::make_shared<TemporalHeadImpl>(bc.hidden_size, o_.head_channels));
    }
  }
}

std::vector<torch::Tensor> LatentDiscriminatorImpl::trainable_parameters() {
  std::vector<torch::Tensor> v;
  if (upsampler_) for (auto& p : upsampler_->parameters()) v.push_back(p);
  for (auto& p : spatial_heads_->parameters()) v.push_back(p);
  for (auto& p : temporal_heads_->parameters()) v.push_back(p);
  return v;
}

std::vector<torch::Tensor> LatentDiscriminatorImpl::state_buffers() {
  std::vector<torch::Tensor> v;
  for (auto& b : spatial_heads_->buffers()) v.push_back(b);
  for (auto& b : temporal_heads_->buffers()) v.push_back(b);
  return v;
}

torch::Tensor LatentDiscriminatorImpl::forward(const torch::Tensor& latents) {
  const int64_t B = latents.size(0), T = latents.size(1);
  auto frames = latents.reshape({B * T, latents.size(2), latents.size(3), latents.size(4)});  // [B*T, C, h, w]
  torch::Tensor rgb;  // [B*T, 3, ., .] in [0, 1]
  if (o_.kind == "upsampler") {
    rgb = torch::sigmoid(F::pixel_shuffle(upsampler_(frames), o_.upsample_r));  // [B*T, 3, r h, r w]
  } else {
    rgb = (vae_->decode(frames / o_.vae_scaling_factor, T).clamp(-1, 1) + 1.0) / 2.0;  // [B*T, 3, H, W]
  }
  rgb = F::interpolate(rgb, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{o_.input_size, o_.input_size})
                                .mode(torch::kBilinear)
                                .align_corners(false));
  auto out = backbone_->forward(imagenet_normalise(rgb), /*output_hidden_states=*/true);
  const int64_t side = o_.input_size / backbone_->config().patch_size;
  std::vector<torch::Tensor> logits;
  const bool sg = o_.head_blocks == "stylegan_t";
  const bool add_cls = o_.cls_token == "add";
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const auto& tokens = out.hidden_states[static_cast<std::size_t>(layers_[i])];  // [B*T, 1+N, D], CLS first
    auto h = tokens.slice(1, 1);                                                   // [B*T, N, D]
    if (add_cls) h = h + tokens.slice(1, 0, 1);  // StyleGAN-T's AddReadout: CLS added to every patch token
    const int64_t D = h.size(2);
    auto spatial = h.transpose(1, 2).reshape({B * T, D, side, side});              // [B*T, D, H', W']
    logits.push_back((sg ? spatial_heads_[i]->as<StyleGanTSpatialHeadImpl>()->forward(spatial, T)
                         : spatial_heads_[i]->as<SpatialHeadImpl>()->forward(spatial))
                         .view({B, -1}));
    auto temporal = h.view({B, T, side * side, D}).permute({0, 2, 3, 1}).reshape({B * side * side, D, T});
    logits.push_back((sg ? temporal_heads_[i]->as<StyleGanTTemporalHeadImpl>()->forward(temporal, side * side)
                         : temporal_heads_[i]->as<TemporalHeadImpl>()->forward(temporal))
                         .view({B, -1}));
  }
  return torch::cat(logits, 1);  // [B, L]: every head's every logit
}

}  // namespace osv
