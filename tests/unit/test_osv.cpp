// OSV's pieces against hand computation (SPEC §2–3): pseudo-Huber, hinge losses, lambda, the
// training grid and k-step sigmas, the m-step teacher solver against explicit Euler steps, the
// Time Travel Sampler's structure, the latent discriminator's output shapes and what it trains,
// and which student parameters each stage trains.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "common/errors.h"
#include "methods/distill/consistency.h"
#include "methods/distill/disc_heads.h"
#include "methods/osv/discriminator.h"
#include "methods/osv/osv.h"
#include "methods/svd/edm.h"
#include "models/lora.h"
#include "models/unet_svd.h"
#include "tests/unit/method_world.h"
#include "tests/unit/tiny_unet.h"

namespace osv {
namespace {

TEST(OsvLosses, PseudoHuberByHand) {
  auto x = torch::tensor({{1.0f, 2.0f}, {0.0f, 0.0f}});
  auto y = torch::tensor({{0.0f, 0.0f}, {0.0f, 3.0f}});
  const double c = 0.5;
  // whole (the OSV paper's d): sqrt(||x - y||^2 + c^2) - c, the norm summing the sample's elements
  auto wh = Huber{HuberMode::Whole, c}(x, y);
  EXPECT_NEAR(wh[0].item<double>(), std::sqrt(1.0 + 4.0 + 0.25) - 0.5, 1e-6);
  EXPECT_NEAR(wh[1].item<double>(), std::sqrt(9.0 + 0.25) - 0.5, 1e-6);
  // whole with iCT's scaling: c * sqrt(2 elements)
  auto sc = Huber{HuberMode::Whole, c, true}(x, y);
  EXPECT_NEAR(sc[0].item<double>(), std::sqrt(5.0 + 0.5) - std::sqrt(0.5), 1e-6);
  // elementwise (AnimateLCM's code): mean(sqrt(d^2 + c^2) - c)
  auto el = Huber{HuberMode::Elementwise, c}(x, y);
  EXPECT_NEAR(el[0].item<double>(), ((std::sqrt(1.25) - 0.5) + (std::sqrt(4.25) - 0.5)) / 2, 1e-6);
  EXPECT_NEAR(el[1].item<double>(), ((0.0) + (std::sqrt(9.25) - 0.5)) / 2, 1e-6);
  // per_sample (a knob): sqrt(mean(d^2) + c^2) - c
  auto ps = Huber{HuberMode::PerSample, c}(x, y);
  EXPECT_NEAR(ps[0].item<double>(), std::sqrt((1.0 + 4.0) / 2 + 0.25) - 0.5, 1e-6);
  EXPECT_NEAR(ps[1].item<double>(), std::sqrt(9.0 / 2 + 0.25) - 0.5, 1e-6);
  EXPECT_EQ(parse_huber_mode("reference", HuberMode::Elementwise), HuberMode::Elementwise);
  EXPECT_EQ(parse_huber_mode("whole", HuberMode::Elementwise), HuberMode::Whole);
  EXPECT_THROW(parse_huber_mode("mean", HuberMode::Whole), std::exception);
}

TEST(OsvLosses, PseudoHuberAgainstReferenceFormulasOnRandomTensors) {
  torch::manual_seed(7);
  auto p = torch::randn({3, 2, 4, 5, 5}, torch::kDouble), t = torch::randn({3, 2, 4, 5, 5}, torch::kDouble);
  const double c = 0.001;
  const Huber whole{HuberMode::Whole, c}, elementwise{HuberMode::Elementwise, c}, per_sample{HuberMode::PerSample, c};
  // AnimateLCM train_svd_lcm.py: torch.mean(torch.sqrt((pred.float() - target.float()) ** 2 + c ** 2) - c),
  // a mean over every element of the batch — the mean over samples of our per-sample values.
  auto ref_lcm = torch::mean(torch::sqrt((p - t).pow(2) + c * c) - c);
  EXPECT_NEAR(elementwise(p, t).mean().item<double>(), ref_lcm.item<double>(), 1e-12);
  // The OSV paper's d(x, y) = sqrt(||x - y||_2^2 + c^2) - c, per sample, with numpy-style norms.
  for (int64_t b = 0; b < 3; ++b) {
    const double n2 = (p[b] - t[b]).norm().item<double>();
    EXPECT_NEAR(whole(p, t)[b].item<double>(), std::sqrt(n2 * n2 + c * c) - c, 1e-10);
  }
  // whole vs per_sample: sqrt(elements) apart when c is negligible (the GAN-balance shift).
  const double ratio = (whole(p, t) / per_sample(p, t)).mean().item<double>();
  EXPECT_NEAR(ratio / std::sqrt(2.0 * 4 * 5 * 5), 1.0, 2e-3);  // c / rms(d) ~ 7e-4 off
}

TEST(OsvLosses, HingeByHand) {
  auto real = torch::tensor({2.0f, 0.5f, -1.0f}), fake = torch::tensor({-2.0f, 0.0f, 1.0f});
  // D: mean(relu(1 - real)) + mean(relu(1 + fake)) = (0 + 0.5 + 2)/3 + (0 + 1 + 2)/3
  EXPECT_NEAR(hinge_d_loss(real, fake).item<double>(), 2.5 / 3 + 3.0 / 3, 1e-6);
  // G: mean(relu(1 - fake)) = (3 + 1 + 0)/3 — the paper's form, not -mean(fake)
  EXPECT_NEAR(hinge_g_loss(fake).item<double>(), 4.0 / 3, 1e-6);
  EXPECT_NEAR(linear_g_loss(fake).item<double>(), 1.0 / 3, 1e-6);
  EXPECT_NEAR(lambda_weight(1.0, 1.5, 0.1), std::pow(2.0, 0.1), 1e-12);
  // Two logits per clip: per logit vs on the clip's mean. real {3, -1}: per logit (0 + 2)/2 = 1,
  // clip mean relu(1 - 1) = 0; fake {-3, 1}: per logit (0 + 2)/2 = 1, clip mean relu(1 - 1) = 0.
  auto r2 = torch::tensor({{3.0f, -1.0f}}), f2 = torch::tensor({{-3.0f, 1.0f}});
  EXPECT_NEAR(hinge_d_loss(r2, f2, HingeReduction::PerLogit).item<double>(), 2.0, 1e-6);
  EXPECT_NEAR(hinge_d_loss(r2, f2, HingeReduction::ClipMean).item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(hinge_g_loss(f2, HingeReduction::PerLogit).item<double>(), (4.0 + 0.0) / 2, 1e-6);
  EXPECT_NEAR(hinge_g_loss(f2, HingeReduction::ClipMean).item<double>(), 2.0, 1e-6);
}

TEST(OsvLosses, HingePerLogitAgainstStyleGanTOnRandomLogits) {
  // StyleGAN-T / Projected GAN: logits = torch.cat([head(f).view(B, -1) for head in heads], 1);
  // D: relu(1 - real_logits).mean() + relu(1 + gen_logits).mean(); on random logits of heads of
  // different sizes.
  torch::manual_seed(8);
  auto h1r = torch::randn({4, 1, 3, 3}), h2r = torch::randn({4, 1, 7}), h1f = torch::randn({4, 1, 3, 3}),
       h2f = torch::randn({4, 1, 7});
  auto real = torch::cat({h1r.view({4, -1}), h2r.view({4, -1})}, 1);
  auto fake = torch::cat({h1f.view({4, -1}), h2f.view({4, -1})}, 1);
  double sum_r = 0, sum_f = 0;
  for (int64_t i = 0; i < real.numel(); ++i) {
    sum_r += std::max(0.0, 1.0 - real.flatten()[i].item<double>());
    sum_f += std::max(0.0, 1.0 + fake.flatten()[i].item<double>());
  }
  const double n = static_cast<double>(real.numel());
  EXPECT_NEAR(hinge_d_loss(real, fake).item<double>(), sum_r / n + sum_f / n, 1e-5);
  // The clip-mean knob differs on the same logits.
  EXPECT_GT(std::abs(hinge_d_loss(real, fake).item<double>() -
                     hinge_d_loss(real, fake, HingeReduction::ClipMean).item<double>()),
            1e-2);
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
  // k not dividing N: j * (N // k) as the reference scheduler (100 points, 8 steps: every 12th).
  const auto s8 = consistency_sigmas(100, 8, 0.002, 700.0);
  EXPECT_NEAR(s8[7], g[84], 1e-9);
  EXPECT_NEAR(consistency_sigmas(40, 8, 0.002, 700.0)[7], 0.0398, 5e-4);
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
                        consistency_sigmas(100, k + 1, 0.002, 700.0), ConsistencyParam::Svd, 0.002);
    EXPECT_EQ(a.nfe, 2 * k);
    EXPECT_EQ(calls, 2 * k);  // counted as the network is called
    torch::manual_seed(99);   // the default generator's state does not matter for a fixed eps0
    int64_t calls2 = 0;
    auto b = tts_sample(point_mass_net(z, &calls2), eps0, consistency_sigmas(100, k, 0.002, 700.0),
                        consistency_sigmas(100, k + 1, 0.002, 700.0), ConsistencyParam::Svd, 0.002);
    EXPECT_TRUE(torch::equal(a.latents, b.latents)) << "k = " << k;
  }
  int64_t calls = 0;
  auto one = tts_sample(point_mass_net(z, &calls), eps0, consistency_sigmas(100, 1, 0.002, 700.0),
                        consistency_sigmas(100, 2, 0.002, 700.0), ConsistencyParam::Svd, 0.002);
  // k = 1 ends at the data point (the oracle tests hold every k to 1e-4).
  EXPECT_LT((one.latents - z).abs().max().item<double>(), 1e-4);
  // Fresh noise per step is a separate knob and changes the result.
  torch::manual_seed(5);
  auto fresh = tts_sample(point_mass_net(z, &calls), eps0, consistency_sigmas(100, 2, 0.002, 700.0),
                          consistency_sigmas(100, 3, 0.002, 700.0), ConsistencyParam::Svd, 0.002,
                          TtsVariant::Printed, true);
  int64_t c3 = 0;
  auto fixed = tts_sample(point_mass_net(z, &c3), eps0, consistency_sigmas(100, 2, 0.002, 700.0),
                          consistency_sigmas(100, 3, 0.002, 700.0), ConsistencyParam::Svd, 0.002,
                          TtsVariant::Printed);
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
    // every head's every logit: 3 taps x (spatial T x 4 x 4 + temporal 4 x 4 x T) on a 4 x 4 patch grid
    EXPECT_EQ(out.sizes(), torch::IntArrayRef({2, 3 * 2 * T * 16})) << T << " " << h << " " << w;
  }
  // Gradients reach the upsampler, the heads and the input latents, never the backbone.
  auto x = torch::randn({1, 2, 4, 4, 4}, torch::requires_grad());
  d->forward(x).sum().backward();
  EXPECT_TRUE(x.grad().defined());
  for (auto& p : d->trainable_parameters()) EXPECT_TRUE(p.grad().defined());
  for (auto& p : backbone->parameters()) EXPECT_FALSE(p.requires_grad());
  // 3 taps (patch embedding + 2 blocks) x (spatial + temporal head) + upsampler; StyleGAN-T's head:
  // 3 spectral convs (weight_orig, bias) + 2 local batch norms (weight, bias), and u, v per conv.
  EXPECT_EQ(d->trainable_parameters().size(), 2u + 6u * 10u);
  EXPECT_EQ(d->state_buffers().size(), 6u * 6u);
  LatentDiscriminatorOptions plain = o;
  plain.head_blocks = "plain";  // Conv -> ResBlock (2 convs) -> Conv: 4 convs (weight, bias), no state
  LatentDiscriminator dp(plain, tiny_dinov2(3));
  EXPECT_EQ(dp->forward(torch::randn({2, 3, 4, 8, 8})).sizes(), torch::IntArrayRef({2, 3 * 2 * 3 * 16}));
  EXPECT_EQ(dp->trainable_parameters().size(), 2u + 6u * 8u);
  EXPECT_TRUE(dp->state_buffers().empty());
  LatentDiscriminatorOptions bad = o;
  bad.taps = {5};
  EXPECT_THROW(LatentDiscriminator(bad, tiny_dinov2(3)), std::exception);
  bad = o;
  bad.head_blocks = "batchnorm";
  EXPECT_THROW(LatentDiscriminator(bad, tiny_dinov2(3)), UsageError);
}

// StyleGAN-T's AddReadout: the backbone's CLS token is added to every patch token at every tap
// (disc.cls_token=add). At the patch-embedding tap, before any attention, the patch tokens do not
// depend on the CLS token, so moving it changes that tap's logits only when it is added. The plain
// head blocks see it whole (StyleGAN-T's local batch norm would take most of a shift that is the
// same for every token of a frame away again, leaving only the border effect of the padding).
TEST(OsvDiscriminator, AddsTheClsTokenToEveryPatchTokenAsStyleGanT) {
  for (const std::string mode : {"add", "drop"}) {
    LatentDiscriminatorOptions o;
    o.input_size = 56;
    o.taps = {0};  // the patch embedding first, then block 0
    o.head_channels = 8;
    o.head_blocks = "plain";
    o.cls_token = mode;
    auto backbone = tiny_dinov2(1);
    LatentDiscriminator d(o, backbone);
    d->eval();
    torch::NoGradGuard g;
    const int64_t T = 2;
    auto x = torch::randn({2, T, 4, 8, 8});
    const auto before = d->forward(x);
    for (auto& np : backbone->named_parameters(true))
      if (np.key() == "embeddings.cls_token") np.value().add_(torch::randn_like(np.value()));
    const auto after = d->forward(x);
    const int64_t first_tap = 2 * T * 16;  // its spatial (T x 4 x 4) and temporal (4 x 4 x T) logits
    const auto first_change = (before.slice(1, 0, first_tap) - after.slice(1, 0, first_tap)).abs();
    if (mode == "drop") {
      EXPECT_EQ(first_change.max().item<double>(), 0.0);
    } else {
      EXPECT_GT(first_change.min().item<double>(), 1e-4);  // every logit of the tap moves, not only the borders
    }
    EXPECT_FALSE(torch::allclose(before.slice(1, first_tap), after.slice(1, first_tap), 1e-5, 1e-6)) << mode;
  }
  LatentDiscriminatorOptions bad;
  bad.input_size = 56;
  bad.taps = {0};
  bad.cls_token = "concat";
  EXPECT_THROW(LatentDiscriminator(bad, tiny_dinov2(1)), UsageError);
}

// A clip's logits do not depend on the other clips of its batch (local batch norm groups one clip's
// frames and token sequences), so a data-parallel split of the batch changes nothing.
TEST(OsvDiscriminator, AClipsLogitsDoNotDependOnItsBatchNeighbours) {
  LatentDiscriminatorOptions o;
  o.input_size = 56;
  o.taps = {0, 1};
  o.head_channels = 8;
  LatentDiscriminator d(o, tiny_dinov2(2));
  d->eval();  // spectral norm's u, v stay put between the calls
  torch::NoGradGuard g;
  auto x = torch::randn({3, 4, 4, 8, 8});
  const auto all = d->forward(x);
  for (int64_t b = 0; b < 3; ++b)
    EXPECT_TRUE(torch::allclose(d->forward(x.slice(0, b, b + 1)), all.slice(0, b, b + 1), 1e-4, 1e-5)) << b;
}

// StyleGAN-T's blocks against hand computation: a spectral conv's effective weight has largest
// singular value 1 once its power iteration has converged (torch.nn.utils.spectral_norm), and it
// convolves with that weight; BatchNormLocal normalises per channel over each group of samples and
// every position, without running statistics.
TEST(OsvDiscriminator, StyleGanTSpectralConvAndLocalBatchNormByHand) {
  torch::manual_seed(4);
  disc_heads::SpectralConvImpl<2> sc(5, 7, 3);
  auto x = torch::randn({2, 5, 6, 6});
  torch::Tensor y;
  for (int i = 0; i < 50; ++i) y = sc.forward(x);  // training mode: one power iteration per call
  const auto sigma = torch::linalg_matrix_norm(sc.weight_orig.detach().reshape({7, -1}), 2).item<double>();
  // The module's own estimate u . W v has converged to the largest singular value.
  const auto w = sc.weight_orig.detach().reshape({7, -1});
  EXPECT_NEAR(torch::dot(sc.weight_u, torch::mv(w, sc.weight_v)).item<double>(), sigma, 1e-5 * sigma);
  const auto ref = torch::conv2d(x, sc.weight_orig.detach() / sigma, sc.bias.detach(), 1, 1);
  EXPECT_LT((y.detach() - ref).abs().max().item<double>(), 1e-4 * ref.abs().max().item<double>());
  sc.eval();  // evaluation: no iteration, the stored u, v
  const auto u = sc.weight_u.clone();
  sc.forward(x);
  EXPECT_TRUE(torch::equal(u, sc.weight_u));

  disc_heads::BatchNormLocalImpl bn(3);
  auto z = torch::randn({16, 3, 5}) * 3.0 + 1.0;  // two groups of 8
  const auto out = bn.forward(z, 8);
  for (int64_t g = 0; g < 2; ++g)
    for (int64_t ch = 0; ch < 3; ++ch) {
      auto v = z.slice(0, 8 * g, 8 * g + 8).select(1, ch);
      auto want = (v - v.mean()) / torch::sqrt(v.var(/*unbiased=*/false) + 1e-5);
      EXPECT_TRUE(torch::allclose(out.slice(0, 8 * g, 8 * g + 8).select(1, ch), want, 1e-4, 1e-5)) << g << " " << ch;
    }
  EXPECT_THROW(bn.forward(torch::randn({12, 3, 2, 2}), 8), std::exception);  // 12 rows are not groups of 8
}


// The discriminator can learn: trained alone (Adam 1e-3, one clip per side per step, 100 steps) on a
// fixed set of "real" clips against their spatially averaged copies (what a one-step student's
// blurry mean prediction looks like), its held-in gap D(real) - D(fake) grows from ~0.02. A head
// that did not step, a gradient that did not reach it, or a backbone path that erased the
// difference would leave it there. StyleGAN-T's blocks learn slower: spectral norm bounds how fast
// a logit can grow (measured here: 0.02 -> 0.53 with them, 0.01 -> 5.86 with the plain blocks).
class OsvDiscriminatorHeads : public ::testing::TestWithParam<std::string> {};

TEST_P(OsvDiscriminatorHeads, LearnsToSeparateSharpFromBlurredClips) {
  LatentDiscriminatorOptions o;
  o.input_size = 56;
  o.taps = {0, 1};
  o.head_channels = 16;
  o.head_blocks = GetParam();
  LatentDiscriminator d(o, tiny_dinov2(2));
  torch::manual_seed(11);
  auto real = torch::randn({8, 2, 4, 8, 8});                                            // [B, T, C, h, w]
  auto fake = real.mean({3, 4}, /*keepdim=*/true).expand_as(real).contiguous();         // the clip's per-frame mean
  torch::optim::Adam opt(d->trainable_parameters(), torch::optim::AdamOptions(1e-3));
  auto gap = [&] {
    torch::NoGradGuard g;
    return (d->forward(real).mean() - d->forward(fake).mean()).item<double>();
  };
  const double before = gap();
  for (int64_t s = 0; s < 100; ++s) {
    const auto i = s % 8;
    auto loss = hinge_d_loss(d->forward(real.slice(0, i, i + 1)), d->forward(fake.slice(0, i, i + 1)));
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  EXPECT_LT(std::abs(before), 0.05);
  EXPECT_GT(gap(), GetParam() == "plain" ? 1.0 : 0.25) << "before " << before;
}

INSTANTIATE_TEST_SUITE_P(HeadBlocks, OsvDiscriminatorHeads, ::testing::Values("stylegan_t", "plain"));

// A killed OSV stage resumes as if it had not stopped: the discriminator's spectral-norm state
// (u, v, which every training forward moves) is in the checkpoint with its weights. Without it the
// resumed run restarts the power iteration and its weights drift from the uninterrupted run's.
TEST(OsvDiscriminator, AResumedStageEqualsTheUninterruptedOne) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("osv_disc_resume_" + std::to_string(::getpid()));
  fs::remove_all(root);
  auto w = testing::make_world(torch::kCPU);
  auto run = [&](const fs::path& dir, const std::vector<int64_t>& stops) {
    LatentDiscriminator disc{nullptr};
    for (auto stop : stops) {  // each call a fresh process: new task, new discriminator
      disc = testing::tiny_disc(*w->pipe, "upsampler");
      auto task = make_osv_stage_task(1, w->c, *w->pipe, w->data, disc);
      TrainLoopOptions o;
      o.dir = dir;
      o.steps = 4;
      o.checkpoint_every = 2;
      o.seed = 5;
      o.progress_interval_s = 1000;
      o.stop_after = stop;
      run_training(*task, o);
    }
    return disc;
  };
  auto whole = run(root / "whole", {-1});
  auto resumed = run(root / "resumed", {2, -1});
  const auto a = whole->trainable_parameters(), b = resumed->trainable_parameters();
  const auto sa = whole->state_buffers(), sb = resumed->state_buffers();
  ASSERT_FALSE(sa.empty());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
  for (std::size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(torch::equal(sa[i], sb[i])) << "state " << i;
  fs::remove_all(root);
}

TEST(OsvDiscriminator, TapsScaleWithTheBackbonesDepth) {
  const std::vector<int64_t> st{2, 5, 8, 11};  // StyleGAN-T's taps of a 12-block ViT
  EXPECT_EQ(scaled_taps(st, 12, 12), st);
  EXPECT_EQ(scaled_taps(st, 12, 24), (std::vector<int64_t>{5, 11, 17, 23}));   // ViT-L
  EXPECT_EQ(scaled_taps(st, 12, 40), (std::vector<int64_t>{9, 19, 29, 39}));   // ViT-g
  EXPECT_EQ(scaled_taps(st, 12, 6), (std::vector<int64_t>{1, 2, 4, 5}));
  EXPECT_EQ(scaled_taps({0, 1}, 0, 2), (std::vector<int64_t>{0, 1}));  // 0: the backbone's own blocks
  EXPECT_THROW(scaled_taps(st, 12, 2), std::exception);                // four taps cannot fit two blocks
  EXPECT_THROW(scaled_taps({12}, 12, 24), std::exception);
  // The discriminator applies it: taps {2, 5} of 12 on a 3-block backbone are blocks {0, 1}.
  LatentDiscriminatorOptions o;
  o.input_size = 56;
  o.taps = {5, 11};
  o.taps_depth = 12;
  o.head_channels = 8;
  LatentDiscriminator d(o, tiny_dinov2(3));
  EXPECT_EQ(d->options().taps, (std::vector<int64_t>{1, 2}));
}

TEST(OsvBackbone, MaskTokenReplacesMaskedPatchesOnly) {
  auto m = tiny_dinov2(2);
  torch::NoGradGuard g;
  for (auto& np : m->named_parameters())
    if (np.key().find("mask_token") != std::string::npos) np.value().fill_(0.5);
  auto x = torch::randn({2, 3, 56, 56});
  auto none = torch::zeros({2, 16}, torch::kBool);
  EXPECT_TRUE(torch::allclose(m->forward(x).last_hidden_state, m->forward(x, false, none).last_hidden_state));
  auto some = none.clone();
  some[0][3] = true;
  auto a = m->forward(x).last_hidden_state, b = m->forward(x, false, some).last_hidden_state;
  EXPECT_FALSE(torch::allclose(a[0], b[0]));
  EXPECT_TRUE(torch::allclose(a[1], b[1]));  // the other image is untouched
}

TEST(OsvBackbone, LinearProbeSeparatesSeparableClassesAndNotNoise) {
  torch::manual_seed(9);
  auto y = torch::arange(400) % 4;
  auto centres = torch::randn({4, 16}, torch::kDouble) * 3.0;
  auto f = centres.index_select(0, y) + torch::randn({400, 16}, torch::kDouble);
  auto tr = torch::arange(200), te = torch::arange(200, 400);
  EXPECT_GT(linear_probe_accuracy(f.index_select(0, tr), y.index_select(0, tr), f.index_select(0, te),
                                  y.index_select(0, te), 4, 1.0),
            0.95);
  auto noise = torch::randn({400, 16}, torch::kDouble);
  EXPECT_LT(linear_probe_accuracy(noise.index_select(0, tr), y.index_select(0, tr), noise.index_select(0, te),
                                  y.index_select(0, te), 4, 1.0),
            0.45);
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
