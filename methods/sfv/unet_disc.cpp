#include "methods/sfv/unet_disc.h"

#include <algorithm>
#include <cmath>

#include "methods/api/train_loop.h"
#include "methods/distill/disc_heads.h"
#include "methods/svd/svd_pipeline.h"

namespace osv {

namespace {
constexpr int64_t kSigmaFeatures = 32, kFrameFeatures = 32;
using disc_heads::SpatialHeadImpl;
using disc_heads::TemporalHeadImpl;
}  // namespace

UNetEncoderDiscriminatorImpl::UNetEncoderDiscriminatorImpl(UNetSpatioTemporalConditionModel encoder,
                                                           int64_t head_channels)
    : encoder_(std::move(encoder)) {
  register_module("encoder", encoder_);
  for (auto& p : encoder_->parameters()) p.set_requires_grad(false);
  encoder_->eval();
  const auto& cfg = encoder_->config();
  embed_dim_ = cfg.cross_attention_dim.front();
  spatial_heads_ = register_module("spatial_heads", torch::nn::ModuleList());
  temporal_heads_ = register_module("temporal_heads", torch::nn::ModuleList());
  for (auto ch : cfg.block_out_channels) {
    spatial_heads_->push_back(std::make_shared<SpatialHeadImpl>(ch, head_channels, embed_dim_ + kSigmaFeatures + kFrameFeatures));
    temporal_heads_->push_back(std::make_shared<TemporalHeadImpl>(ch, head_channels, embed_dim_ + kSigmaFeatures));
  }
}

std::vector<torch::Tensor> UNetEncoderDiscriminatorImpl::trainable_parameters() {
  std::vector<torch::Tensor> v;
  for (auto& p : spatial_heads_->parameters()) v.push_back(p);
  for (auto& p : temporal_heads_->parameters()) v.push_back(p);
  return v;
}

torch::Tensor UNetEncoderDiscriminatorImpl::forward(const torch::Tensor& x_in, const torch::Tensor& sigma_prime,
                                                    const Conditioning& cond) {
  const int64_t B = x_in.size(0), T = x_in.size(1);
  const auto opts = x_in.options();
  auto image = cond.image_latent.to(opts).unsqueeze(1).expand({B, T, -1, -1, -1});      // [B, T, C, h, w]
  auto sample = torch::cat({x_in, image}, 2);                                             // [B, T, 2C, h, w]
  auto c_noise = 0.25 * torch::log(sigma_prime.to(opts));                                 // [B]
  auto feats = encoder_->down_block_outputs(sample, c_noise, cond.image_embeds.to(opts),
                                            cond.added_time_ids.to(opts));                // each [B*T, C_i, h_i, w_i]
  // Conditioning vectors: per clip [B, D + Fs], per frame [B*T, D + Fs + Ff].
  auto clip_cond = torch::cat({cond.image_embeds.to(opts).reshape({B, -1}), timestep_features(c_noise, kSigmaFeatures).to(opts)}, 1);
  auto frame_ids = torch::arange(T, opts).repeat({B});                                    // [B*T]
  auto frame_cond = torch::cat({clip_cond.repeat_interleave(T, 0), timestep_features(frame_ids, kFrameFeatures).to(opts)}, 1);
  std::vector<torch::Tensor> logits;
  for (std::size_t i = 0; i < feats.size(); ++i) {
    const auto& h = feats[i];
    const int64_t C = h.size(1), hh = h.size(2), ww = h.size(3);
    logits.push_back(spatial_heads_[i]->as<SpatialHeadImpl>()->forward(h, frame_cond).view({B, -1}));
    auto temporal = h.view({B, T, C, hh * ww}).permute({0, 3, 2, 1}).reshape({B * hh * ww, C, T});  // [B*h*w, C, T]
    logits.push_back(temporal_heads_[i]
                         ->as<TemporalHeadImpl>()
                         ->forward(temporal, clip_cond.repeat_interleave(hh * ww, 0))
                         .view({B, -1}));
  }
  return torch::cat(logits, 1);  // [B, L]: every head's every logit
}

torch::Tensor sample_sigma_prime(const std::vector<double>& grid, double p_mean, double p_std, int64_t n) {
  auto log_grid = torch::log(torch::tensor(grid, torch::kDouble));                        // [G]
  auto draw = p_mean + p_std * torch::randn({n}, torch::kDouble);                         // [n]
  auto nearest = (draw.unsqueeze(1) - log_grid.unsqueeze(0)).abs().argmin(1);             // [n]
  return torch::tensor(grid, torch::kDouble).index_select(0, nearest).to(torch::kFloat32);
}

torch::Tensor noised_disc_input(const torch::Tensor& x, const torch::Tensor& sigma_prime) {
  auto s = sigma_prime.to(x.options()).view({-1, 1, 1, 1, 1});
  return (x + s * randn_rows(x)) / torch::sqrt(s * s + 1.0);  // data parallel: the global batch's noise, this rank's rows
}

}  // namespace osv
