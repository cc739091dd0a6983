// Consistency-model mathematics shared by OSV and AnimateLCM (SPEC §2–3): the Karras training
// grid, the consistency function f(x, sigma) of a v-prediction network, pseudo-Huber distance,
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

// The k sampling sigmas of a consistency model trained on an N-point grid: grid[floor(j N / k)],
// j = 0..k-1 (AnimateLCM-SVD's rule; on its 40-point grid: 1 -> [700], 2 -> [700, 13.678],
// 4 -> [700, 128.56, 13.678, 0.497]).
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

// Pseudo-Huber d(x, y) per sample [B]. per_sample: sqrt(mean((x-y)^2) + c^2) - c (the mean over a
// sample's elements replaces the sum inside the root, so c keeps its meaning at any resolution);
// elementwise (AnimateLCM): mean(sqrt((x-y)^2 + c^2) - c).
torch::Tensor pseudo_huber(const torch::Tensor& x, const torch::Tensor& y, double c, bool per_sample = true);

// Hinge losses on discriminator logits [B]: D: mean(ReLU(1 - real)) + mean(ReLU(1 + fake));
// G: mean(ReLU(1 - fake)) (the paper's form, not -D).
torch::Tensor hinge_d_loss(const torch::Tensor& real_logits, const torch::Tensor& fake_logits);
torch::Tensor hinge_g_loss(const torch::Tensor& fake_logits);

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

// The Time Travel Sampler, SPEC §3 / eq. 13 as printed (2 NFE per step). sigmas_k: the k-step
// schedule (descending), sigmas_k1: the (k+1)-step schedule (descending); both get sigma(t_0) = 0.
// eps0 = `noise` (the chain's initial noise) unless fresh_noise, then every step draws its own.
ConsistencySampleResult tts_sample(const ConsistencyNet& net, const torch::Tensor& noise,
                                   const std::vector<double>& sigmas_k, const std::vector<double>& sigmas_k1,
                                   bool fresh_noise = false);

}  // namespace osv
