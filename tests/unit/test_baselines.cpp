// AnimateLCM and SF-V pieces (SPEC §4): SF-V's σ' sampler distribution and noised inputs, the
// UNet-encoder discriminator's shapes, what it trains and its R1 penalty (double backward through
// attention), the guided sampling net, AnimateLCM's k-step sigma lists and which parameters each of
// its strategies trains.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "methods/animatelcm/animatelcm.h"
#include "methods/api/method.h"
#include "methods/distill/consistency.h"
#include "methods/distill/student.h"
#include "methods/sfv/unet_disc.h"
#include "models/nn_util.h"
#include "models/unet_svd.h"
#include "tests/unit/tiny_unet.h"

namespace osv {
namespace {

UNetSVDConfig tiny_unet() { return testing::tiny_unet_config(3); }

Conditioning tiny_cond(int64_t B, int64_t h, int64_t w) {
  Conditioning c;
  c.image_latent = torch::randn({B, 4, h, w});
  c.image_embeds = torch::randn({B, 1, 16});
  c.added_time_ids = torch::tensor({{6.0f, 127.0f, 0.02f}}).repeat({B, 1});
  return c;
}

TEST(SfvSigmaPrime, DiscretisedLogNormalMatchesMeanAndStd) {
  torch::manual_seed(3);
  const auto grid = karras_grid(1000, 0.002, 700.0);
  auto s = sample_sigma_prime(grid, -1.0, 1.0, 20000);
  ASSERT_EQ(s.sizes(), torch::IntArrayRef({20000}));
  auto l = torch::log(s.to(torch::kDouble));
  // Rounding to a 1000-point grid moves log σ' by at most half a grid spacing (< 0.01 here);
  // sampling error of the mean at n = 20000 is 0.007 (1 sigma).
  EXPECT_NEAR(l.mean().item<double>(), -1.0, 0.03);
  EXPECT_NEAR(l.std().item<double>(), 1.0, 0.03);
  // every draw is a grid point
  std::set<float> g;
  for (double v : grid) g.insert(static_cast<float>(v));
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(g.count(s[i].item<float>())) << s[i].item<float>();
  // a different mean moves the distribution
  EXPECT_NEAR(torch::log(sample_sigma_prime(grid, 0.5, 0.5, 20000).to(torch::kDouble)).mean().item<double>(), 0.5, 0.03);
}

TEST(SfvDiscriminator, NoisedInputIsCinScaled) {
  torch::manual_seed(0);
  auto x = torch::zeros({2, 1, 4, 3, 3});
  auto s = torch::tensor({1e-6f, 3.0f});
  auto y = noised_disc_input(x, s);
  // x = 0: y = σ ε / sqrt(σ² + 1): std ≈ σ / sqrt(σ² + 1)
  EXPECT_LT(y[0].abs().max().item<double>(), 1e-4);
  auto x2 = torch::full({1, 1, 4, 3, 3}, 2.0f);
  EXPECT_NEAR(noised_disc_input(x2, torch::tensor({1e-8f})).mean().item<double>(), 2.0, 1e-4);
}

TEST(SfvDiscriminator, ShapesFrozenEncoderAndR1ThroughAttention) {
  torch::manual_seed(1);
  UNetSpatioTemporalConditionModel enc(tiny_unet());
  UNetEncoderDiscriminator d(enc, 16);
  for (auto [T, h, w] : std::vector<std::array<int64_t, 3>>{{1, 4, 4}, {3, 8, 8}, {2, 6, 10}}) {
    auto out = d->forward(torch::randn({2, T, 4, h, w}), torch::tensor({0.5f, 3.0f}), tiny_cond(2, h, w));
    // every head's every logit: 2 down blocks (each output at h/2 x w/2) x (spatial + temporal), T frames
    EXPECT_EQ(out.sizes(), torch::IntArrayRef({2, 2 * 2 * T * (h / 2) * (w / 2)})) << T << " " << h << " " << w;
  }
  // one spatial + one temporal head per down block, 4 conv (w, b) pairs + cond projection (w, b) each
  EXPECT_EQ(d->trainable_parameters().size(), 2u * 2u * 10u);
  for (auto& p : enc->parameters()) EXPECT_FALSE(p.requires_grad());
  // R1: the gradient of D(real) w.r.t. the input is itself differentiable (double backward through
  // the fused-attention-free path) and reaches the heads.
  MathAttentionGuard math;
  auto x = torch::randn({1, 2, 4, 4, 4}, torch::requires_grad());
  auto cond = tiny_cond(1, 4, 4);
  auto s = torch::tensor({1.0f});
  auto g = torch::autograd::grad({d->forward(x, s, cond).sum()}, {x}, {}, true, true)[0];
  auto r1 = g.pow(2).sum();
  r1.backward();
  int with_grad = 0;
  for (auto& p : d->trainable_parameters()) with_grad += p.grad().defined() && p.grad().abs().sum().item<double>() > 0;
  EXPECT_GT(with_grad, 0);
  for (auto& p : enc->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(MathAttention, MatchesFusedKernel) {
  torch::manual_seed(2);
  auto q = torch::randn({2, 5, 8}), k = torch::randn({2, 7, 8}), v = torch::randn({2, 7, 8});
  auto fused = multi_head_attention(q, k, v, 2);
  torch::Tensor math;
  {
    MathAttentionGuard g;
    math = multi_head_attention(q, k, v, 2);
  }
  EXPECT_LT((fused - math).abs().max().item<double>(), 1e-5);
}

TEST(AnimateLcm, SigmaListsAndTemporalSplit) {
  // AnimateLCM-SVD's published k-step sigmas from its 40-point grid (SPEC §3).
  auto s1 = consistency_sigmas(40, 1, 0.002, 700.0);
  auto s2 = consistency_sigmas(40, 2, 0.002, 700.0);
  auto s4 = consistency_sigmas(40, 4, 0.002, 700.0);
  ASSERT_EQ(s1.size(), 1u);
  ASSERT_EQ(s2.size(), 2u);
  ASSERT_EQ(s4.size(), 4u);
  EXPECT_NEAR(s1[0], 700.0, 1e-3);
  EXPECT_NEAR(s2[1], 13.678, 1e-3);
  EXPECT_NEAR(s4[1], 128.56, 1e-2);
  EXPECT_NEAR(s4[3], 0.497, 1e-3);
  // The decoupled strategy's split: temporal layers by name; both groups non-empty and disjoint.
  UNetSpatioTemporalConditionModel u(tiny_unet());
  int temporal = 0, spatial = 0;
  for (auto& np : u->named_parameters(true)) (is_temporal_parameter(np.key()) ? temporal : spatial)++;
  EXPECT_GT(temporal, 0);
  EXPECT_GT(spatial, 0);
  EXPECT_TRUE(is_temporal_parameter("down_blocks.0.resnets.0.temporal_res_block.conv1.weight"));
  EXPECT_TRUE(is_temporal_parameter("down_blocks.0.attentions.0.temporal_transformer_blocks.0.attn1.to_q.weight"));
  EXPECT_TRUE(is_temporal_parameter("down_blocks.0.attentions.0.time_mixer.mix_factor"));
  EXPECT_FALSE(is_temporal_parameter("down_blocks.0.resnets.0.spatial_res_block.conv1.weight"));
}

TEST(StudentSampling, CfgNetCountsTwoUnetCallsAndGuides) {
  torch::manual_seed(4);
  torch::NoGradGuard g;
  UNetSpatioTemporalConditionModel u(tiny_unet());
  u->eval();
  auto cd = tiny_cond(1, 4, 4);
  auto x = torch::randn({1, 3, 4, 4, 4});
  int64_t plain_calls = 0, cfg_calls = 0;
  auto plain = sampling_net(u, cd, false, 1.0, 1.0, &plain_calls)(x, 2.0);
  auto w1 = sampling_net(u, cd, true, 1.0, 1.0, &cfg_calls)(x, 2.0);
  EXPECT_EQ(plain_calls, 1);
  EXPECT_EQ(cfg_calls, 2);
  EXPECT_LT((plain - w1).abs().max().item<double>(), 1e-5);  // w = 1 is the conditional prediction
  // w = 0 on every frame is the unconditional branch; the ramp guides frames differently.
  auto uncond = sampling_net(u, cd, true, 0.0, 0.0)(x, 2.0);
  auto ramp = sampling_net(u, cd, true, 1.0, 3.0)(x, 2.0);
  EXPECT_GT((uncond - plain).abs().max().item<double>(), 1e-6);
  EXPECT_LT((ramp.select(1, 0) - plain.select(1, 0)).abs().max().item<double>(), 1e-5);  // first frame w = 1
  EXPECT_LT((ramp.select(1, 2) - (uncond + 3.0 * (plain - uncond)).select(1, 2)).abs().max().item<double>(), 1e-4);
}

}  // namespace
}  // namespace osv
