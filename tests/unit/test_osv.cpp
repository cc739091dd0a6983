// OSV's pieces against hand computation (SPEC §2–3): pseudo-Huber, hinge losses, lambda, the
// training grid and k-step sigmas, the m-step teacher solver against explicit Euler steps, the
// Time Travel Sampler's structure, the latent discriminator's output shapes and what it trains,
// and which student parameters each stage trains.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "methods/distill/consistency.h"
#include "methods/osv/discriminator.h"
#include "methods/osv/osv.h"
#include "methods/svd/edm.h"
#include "models/lora.h"
#include "models/unet_svd.h"
#include "tests/unit/tiny_unet.h"

namespace osv {
namespace {

TEST(OsvLosses, PseudoHuberByHand) {
  auto x = torch::tensor({{1.0f, 2.0f}, {0.0f, 0.0f}});
  auto y = torch::tensor({{0.0f, 0.0f}, {0.0f, 3.0f}});
  const double c = 0.5;
  // per sample: sqrt(mean(d^2) + c^2) - c
  auto ps = pseudo_huber(x, y, c, true);
  EXPECT_NEAR(ps[0].item<double>(), std::sqrt((1.0 + 4.0) / 2 + 0.25) - 0.5, 1e-6);
  EXPECT_NEAR(ps[1].item<double>(), std::sqrt(9.0 / 2 + 0.25) - 0.5, 1e-6);
  // elementwise: mean(sqrt(d^2 + c^2) - c)
  auto el = pseudo_huber(x, y, c, false);
  EXPECT_NEAR(el[0].item<double>(), ((std::sqrt(1.25) - 0.5) + (std::sqrt(4.25) - 0.5)) / 2, 1e-6);
  EXPECT_NEAR(el[1].item<double>(), ((0.0) + (std::sqrt(9.25) - 0.5)) / 2, 1e-6);
}

TEST(OsvLosses, HingeByHand) {
  auto real = torch::tensor({2.0f, 0.5f, -1.0f}), fake = torch::tensor({-2.0f, 0.0f, 1.0f});
  // D: mean(relu(1 - real)) + mean(relu(1 + fake)) = (0 + 0.5 + 2)/3 + (0 + 1 + 2)/3
  EXPECT_NEAR(hinge_d_loss(real, fake).item<double>(), 2.5 / 3 + 3.0 / 3, 1e-6);
  // G: mean(relu(1 - fake)) = (3 + 1 + 0)/3 — the paper's form, not -mean(fake)
  EXPECT_NEAR(hinge_g_loss(fake).item<double>(), 4.0 / 3, 1e-6);
  EXPECT_NEAR(lambda_weight(1.0, 1.5, 0.1), std::pow(2.0, 0.1), 1e-12);
}

TEST(OsvGrid, KarrasGridAndAnimateLcmSigmas) {
  const auto g = karras_grid(100, 0.002, 700.0);
  EXPECT_NEAR(g.front(), 700.0, 1e-9);
  EXPECT_NEAR(g.back(), 0.002, 1e-12);
  for (std::size_t i = 1; i < g.size(); ++i) EXPECT_LT(g[i], g[i - 1]);
  // AnimateLCM-SVD's published k-step sigmas on its 40-point grid (SPEC §3).
  auto s2 = consistency_sigmas(40, 2, 0.002, 700.0), s4 = consistency_sigmas(40, 4, 0.002, 700.0);
  EXPECT_NEAR(consistency_sigmas(40, 1, 0.002, 700.0)[0], 700.0, 1e-9);
  EXPECT_NEAR(s2[1], 13.678, 5e-3);
  EXPECT_NEAR(s4[1], 128.56, 5e-2);
  EXPECT_NEAR(s4[2], 13.678, 5e-3);
  EXPECT_NEAR(s4[3], 0.497, 5e-4);
}

// A toy network: F depends on the input and c_noise nonlinearly, differently with and without conditioning.
VideoNetwork toy_video_net() {
  return [](const torch::Tensor& x_in, double c_noise, bool conditional) {
    return torch::tanh(x_in * (conditional ? 0.7 : 0.3) + c_noise * 0.1) + (conditional ? 0.05 : -0.02);
  };
}

TEST(OsvSolver, MStepEulerWithCfgEqualsExplicitSteps) {
  torch::manual_seed(0);
  auto x0 = torch::randn({2, 4, 3, 5, 5});
  const std::vector<double> sig{12.0, 8.5, 5.0, 2.2, 1.1, 0.6};  // m = 5 steps
  int64_t nfe = 0;
  auto solved = euler_solve(toy_video_net(), x0, sig, true, 1.25, 2.5, &nfe);
  EXPECT_EQ(nfe, 10);  // 2 per step with CFG
  auto net = toy_video_net();
  auto x = x0.clone();
  const auto w = torch::linspace(1.25, 2.5, 4).view({1, 4, 1, 1, 1});
  for (std::size_t i = 0; i + 1 < sig.size(); ++i) {
    const double s = sig[i];
    const double c_in = 1 / std::sqrt(s * s + 1), c_skip = 1 / (s * s + 1), c_out = -s / std::sqrt(s * s + 1);
    auto vc = net(x * c_in, 0.25 * std::log(s), true), vu = net(x * c_in, 0.25 * std::log(s), false);
    auto d_hat = x * c_skip + c_out * (vu + w * (vc - vu));  // D(c0) + w (D(c) - D(c0))
    x = x + (sig[i + 1] - s) * (x - d_hat) / s;
  }
  EXPECT_LT((solved - x).abs().max().item<double>(), 1e-5);
}

// The ideal denoiser of a point mass at z: D(x; s) = z, as a v-prediction network.
ConsistencyNet point_mass_net(const torch::Tensor& z, int64_t* calls) {
  return [z, calls](const torch::Tensor& x, double s) {
    ++*calls;
    const double c_skip = 1 / (s * s + 1), c_out = -s / std::sqrt(s * s + 1);
    return (z - c_skip * x) / c_out;
  };
}

TEST(OsvTts, TwoNfePerStepDeterministicAndOneStepEndsClean) {
  torch::manual_seed(1);
  auto z = torch::randn({1, 2, 4, 3, 3}) * 0.5;
  auto eps0 = torch::randn({1, 2, 4, 3, 3});
  for (int k : {1, 2, 3}) {
    int64_t calls = 0;
    auto a = tts_sample(point_mass_net(z, &calls), eps0, consistency_sigmas(100, k, 0.002, 700.0),
                        consistency_sigmas(100, k + 1, 0.002, 700.0));
    EXPECT_EQ(a.nfe, 2 * k);
    EXPECT_EQ(calls, 2 * k);  // counted as the network is called
    torch::manual_seed(99);   // the default generator's state does not matter for a fixed eps0
    int64_t calls2 = 0;
    auto b = tts_sample(point_mass_net(z, &calls2), eps0, consistency_sigmas(100, k, 0.002, 700.0),
                        consistency_sigmas(100, k + 1, 0.002, 700.0));
    EXPECT_TRUE(torch::equal(a.latents, b.latents)) << "k = " << k;
  }
  int64_t calls = 0;
  auto one = tts_sample(point_mass_net(z, &calls), eps0, consistency_sigmas(100, 1, 0.002, 700.0),
                        consistency_sigmas(100, 2, 0.002, 700.0));
  // k = 1 ends at a clean sample: from noise of scale 700 to within 0.1 of the data point.
  EXPECT_LT((one.latents - z).abs().max().item<double>(), 0.1 * std::max(1.0, eps0.abs().max().item<double>()));
  // Fresh noise per step is a separate knob and changes the result.
  torch::manual_seed(5);
  auto fresh = tts_sample(point_mass_net(z, &calls), eps0, consistency_sigmas(100, 2, 0.002, 700.0),
                          consistency_sigmas(100, 3, 0.002, 700.0), true);
  int64_t c3 = 0;
  auto fixed = tts_sample(point_mass_net(z, &c3), eps0, consistency_sigmas(100, 2, 0.002, 700.0),
                          consistency_sigmas(100, 3, 0.002, 700.0));
  EXPECT_FALSE(torch::equal(fresh.latents, fixed.latents));
}

TEST(OsvConsistency, SamplerCountsOneNfePerStepAndBoundary) {
  torch::manual_seed(2);
  auto z = torch::randn({1, 2, 4, 3, 3});
  int64_t calls = 0;
  auto r = consistency_sample(point_mass_net(z, &calls), torch::randn_like(z), consistency_sigmas(40, 4, 0.002, 700.0),
                              ConsistencyParam::Svd, 0.002);
  EXPECT_EQ(r.nfe, 4);
  EXPECT_EQ(calls, 4);
  EXPECT_LT((r.latents - z).abs().max().item<double>(), 1e-4);  // f of the ideal denoiser is z at every sigma
  // Exact boundary: f(x, sigma_min) = x whatever the network says.
  auto x = torch::randn({1, 2, 4, 3, 3});
  auto f = consistency_fn([](const torch::Tensor& v, double) { return v * 100.0; }, x, 0.002,
                          ConsistencyParam::ExactBoundary, 0.002);
  EXPECT_TRUE(torch::allclose(f, x));
}

Dinov2Model tiny_dinov2(int64_t layers) {
  Dinov2Config c;
  c.hidden_size = 32;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 2;
  c.patch_size = 14;
  c.image_size = 56;
  torch::manual_seed(3);
  return Dinov2Model(c);
}

TEST(OsvDiscriminator, OutputShapesAndTrainableParts) {
  LatentDiscriminatorOptions o;
  o.input_size = 56;
  o.taps = {0, 2};
  o.head_channels = 16;
  auto backbone = tiny_dinov2(3);
  LatentDiscriminator d(o, backbone);
  for (auto [T, h, w] : std::vector<std::array<int64_t, 3>>{{1, 4, 4}, {3, 8, 8}, {4, 6, 10}}) {
    auto out = d->forward(torch::randn({2, T, 4, h, w}));
    EXPECT_EQ(out.sizes(), torch::IntArrayRef({2})) << T << " " << h << " " << w;
  }
  // Gradients reach the upsampler, the heads and the input latents, never the backbone.
  auto x = torch::randn({1, 2, 4, 4, 4}, torch::requires_grad());
  d->forward(x).sum().backward();
  EXPECT_TRUE(x.grad().defined());
  for (auto& p : d->trainable_parameters()) EXPECT_TRUE(p.grad().defined());
  for (auto& p : backbone->parameters()) EXPECT_FALSE(p.requires_grad());
  // 3 taps (patch embedding + 2 blocks) x (spatial + temporal head) + upsampler
  EXPECT_EQ(d->trainable_parameters().size(), 2u + 6u * 8u);
  LatentDiscriminatorOptions bad = o;
  bad.taps = {5};
  EXPECT_THROW(LatentDiscriminator(bad, tiny_dinov2(3)), std::exception);
}

TEST(OsvStudent, StageOneTrainsLoraOnlyStageTwoAddsPatterns) {
  const auto c = testing::tiny_unet_config(2);
  UNetSpatioTemporalConditionModel u(c);
  LoraConfig l;
  l.rank = 2;
  l.target_patterns = {R"(attn[12]\.(to_q|to_k|to_v|to_out\.0)$)", R"(conv[12]$)"};
  const auto adapted = add_lora(*u, l);
  EXPECT_FALSE(adapted.empty());
  const auto s1 = osv_trainable_names(*u, 1, {"conv_out"});
  EXPECT_EQ(s1.size(), 2 * adapted.size());
  for (const auto& n : s1) EXPECT_NE(n.find(".lora_"), std::string::npos) << n;
  const auto s2 = osv_trainable_names(*u, 2, {"^conv_out\\."});
  EXPECT_EQ(s2.size(), s1.size() + 2);  // conv_out.weight and conv_out.bias
  // A stage-1 generator step moves only adapters: the base gets no gradient.
  auto x = torch::randn({1, 2, 8, 4, 4});
  auto y = u->forward(x, torch::tensor({0.5f}), torch::randn({1, 1, 16}), torch::tensor({{6.0f, 127.0f, 0.02f}}));
  y.pow(2).mean().backward();
  const std::set<std::string> trained(s1.begin(), s1.end());
  for (auto& np : u->named_parameters(true)) {
    if (trained.count(np.key())) continue;
    EXPECT_FALSE(np.value().grad().defined() && np.value().grad().abs().sum().item<double>() > 0) << np.key();
  }
}

}  // namespace
}  // namespace osv
