// Consistency-model mathematics shared by OSV and AnimateLCM (SPEC §2–3): the Karras training
// grid, the consistency function f(x, sigma) of a v-prediction network, pseudo-Huber distances,
// hinge GAN losses, the lambda(sigma) weight, the k-step consistency sampler and the Time Travel
// Sampler, each counting network evaluations as they are made.
//
// Dimension legend: B batch, T frames, C latent channels, h, w latent size.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace osv {

// SPEC §2: sigma_i = (smax^(1/rho) + i/(N-1) (smin^(1/rho) - smax^(1/rho)))^rho, i = 0 the largest.
std::vector<double> karras_grid(int64_t n, double sigma_min, double sigma_max, double rho = 7.0);

// The k sampling sigmas of a consistency model trained on an N-point grid: grid[j * floor(N / k)],
// j = 0..k-1 (AnimateLCM-SVD's scheduler: step_ratio = N // k; on its 40-point grid: 1 -> [700],
// 2 -> [700, 13.678], 4 -> [700, 128.56, 13.678, 0.497], 8 -> every 5th point from 700 to 0.0398).
std::vector<double> consistency_sigmas(int64_t grid_n, int64_t k, double sigma_min, double sigma_max, double rho = 7.0);

// The network F_theta(x, sigma): applies c_in and c_noise and the conditioning itself. [B,T,C,h,w]
using ConsistencyNet = std::function<torch::Tensor(const torch::Tensor& x, double sigma)>;

enum class ConsistencyParam { Svd, ExactBoundary };
ConsistencyParam parse_consistency_param(const std::string& s);  // "svd" | "exact_boundary"

struct SkipOut {
  double c_skip, c_out;
};
// svd: SVD's c_skip = 1/(s^2+1), c_out = -s/sqrt(s^2+1) (f = D, as AnimateLCM-SVD).
// exact_boundary: c_skip = 1/((s - smin)^2 + 1), c_out = -(s - smin)/sqrt(s^2 + 1), so f(x, smin) = x
// exactly (the sign of c_out follows SVD's v-parameterisation, so a teacher initialisation fits).
SkipOut consistency_coefficients(double sigma, ConsistencyParam p, double sigma_min);
// f(x, sigma) = c_skip x + c_out F(x, sigma)
torch::Tensor consistency_fn(const ConsistencyNet& net, const torch::Tensor& x, double sigma, ConsistencyParam p,
                             double sigma_min);
// Per-sample version for a batch with one sigma per sample: net_b(x, sigma[B]) -> F.
using BatchNet = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& sigma)>;
torch::Tensor consistency_fn_batch(const BatchNet& net, const torch::Tensor& x, const torch::Tensor& sigma,
                                   ConsistencyParam p, double sigma_min);

// Pseudo-Huber distance d(x, y) per sample [B], in the form each source computes it (SPEC §2):
//   whole       the OSV paper's d = sqrt(||x - y||^2 + c^2) - c, the norm summing every element of a sample;
//   elementwise AnimateLCM's public training code: mean(sqrt((x - y)^2 + c^2) - c) over a sample's elements;
//   per_sample  sqrt(mean((x - y)^2) + c^2) - c (the mean inside the root: 1/sqrt(elements) of `whole` when
//               c is small — only a knob, it shifts the balance against a GAN term by sqrt(elements)).
enum class HuberMode { Whole, Elementwise, PerSample };
// "whole" | "elementwise" | "per_sample"; "reference" = `reference` (the calling method's source).
HuberMode parse_huber_mode(const std::string& s, HuberMode reference);
std::string huber_mode_name(HuberMode m);
struct Huber {
  HuberMode mode = HuberMode::Whole;
  double c = 0.001;
  // whole only: c is multiplied by sqrt(elements of a sample) (iCT's c = 0.00054 sqrt(d) rule) instead of
  // being used as given.
  bool c_scales_with_sqrt_dim = false;
  // x, y: [B, ...] -> [B]
  torch::Tensor operator()(const torch::Tensor& x, const torch::Tensor& y) const;
  // The c actually used for a sample of `elements` elements.
  double effective_c(int64_t elements) const;
};

// Hinge losses on discriminator logits [B, L] (L logits per clip: every head's every token/frame
// logit) or [B]. How they are reduced (SPEC §3, corrected):
//   per_logit  the hinge on every logit, then the mean (Projected GAN / StyleGAN-T) [default];
//   clip_mean  the hinge on each clip's mean logit (the mean of all logits first) — a knob.
enum class HingeReduction { PerLogit, ClipMean };
HingeReduction parse_hinge_reduction(const std::string& s);  // "per_logit" | "clip_mean"
// D: mean(ReLU(1 - real)) + mean(ReLU(1 + fake)).
torch::Tensor hinge_d_loss(const torch::Tensor& real_logits, const torch::Tensor& fake_logits,
                           HingeReduction r = HingeReduction::PerLogit);
// G: mean(ReLU(1 - fake)) (the OSV paper's eq. 7/12 form) ...
torch::Tensor hinge_g_loss(const torch::Tensor& fake_logits, HingeReduction r = HingeReduction::PerLogit);
// ... or StyleGAN-T's / SF-V's linear form -mean(fake).
torch::Tensor linear_g_loss(const torch::Tensor& fake_logits, HingeReduction r = HingeReduction::PerLogit);
// Each clip's mean logit [B] (what R1 is taken of, and what a clip_mean hinge sees).
torch::Tensor clip_logit(const torch::Tensor& logits);

// lambda(sigma_n) = (1 / (sigma_far - sigma_near))^power for adjacent grid points.
double lambda_weight(double sigma_near, double sigma_far, double power);

struct ConsistencySampleResult {
  torch::Tensor latents;
  int64_t nfe = 0;
};

// k-step consistency sampling (SPEC §3): x = sigma_0 eps; z = f(x, sigma_j); x = z + sigma_{j+1} eps'
// (eps' from torch's default generator). No CFG.
ConsistencySampleResult consistency_sample(const ConsistencyNet& net, const torch::Tensor& noise,
                                           const std::vector<double>& sigmas, ConsistencyParam p, double sigma_min);

// The Time Travel Sampler (SPEC §3, eq. 13), 2 NFE per step. sigmas_k: the k-step schedule
// (descending), sigmas_k1: the (k+1)-step schedule (descending); both get sigma(t_0) = 0 and must
// interleave. eps0 = `noise` (the chain's initial noise) unless fresh_noise, then every step draws
// its own. f uses the consistency parameterisation `p` the model was trained with.
//   exact    for i = k-1..0 with a = t^k_{i+1}, b = t^{k+1}_{i+1}: f_a = f(x_a, a); jump to b with
//            eps_b = (eps0 + (x_a - f_a)/a)/2, x_b = f_a + b eps_b; f_b = f(x_b, b); renoise to
//            t^k_i with eps0: x = f_b + t^k_i eps0 (at i = 0: the last f_b). An ideal denoiser ends
//            at its x0 exactly [default].
//   printed  eq. 13 literally: the last line is x = c_skip(a) (f_b + a eps_a) + c_out(a) F_b +
//            t^k_i eps0 with eps_a = (eps0 + (x_b - f_b)/b)/2 — F from time b with time a's
//            coefficients, which leaves noise even for an ideal denoiser (measured by the oracle test).
enum class TtsVariant { Exact, Printed };
TtsVariant parse_tts_variant(const std::string& s);  // "exact" | "printed"
ConsistencySampleResult tts_sample(const ConsistencyNet& net, const torch::Tensor& noise,
                                   const std::vector<double>& sigmas_k, const std::vector<double>& sigmas_k1,
                                   ConsistencyParam p, double sigma_min, TtsVariant variant = TtsVariant::Exact,
                                   bool fresh_noise = false);

}  // namespace osv
