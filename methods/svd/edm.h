// The teacher's sampling mathematics (SPEC §1): SVD's EDM v-prediction preconditioning, Karras
// noise schedules, the per-frame CFG ramp and the Euler PF-ODE sampler, exactly as diffusers'
// EulerDiscreteScheduler under SVD's scheduler config (use_karras_sigmas, timestep_spacing
// "leading", prediction_type "v_prediction", timestep_type "continuous").
//
// Dimension legend: B batch, T frames, C latent channels, h, w latent size.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

namespace osv {

struct Preconditioning {
  double c_in, c_skip, c_out, c_noise;
};
// SVD (sigma_data = 1): c_in = 1/sqrt(s^2+1), c_skip = 1/(s^2+1), c_out = -s/sqrt(s^2+1), c_noise = ln(s)/4.
Preconditioning svd_preconditioning(double sigma);

// k noise levels of the Karras schedule from sigma_max down to sigma_min (rho = 7), then 0.
// Computed in double and rounded to float32 like the reference scheduler. Returns k + 1 values.
std::vector<float> karras_sigmas(int64_t k, double sigma_min, double sigma_max, double rho = 7.0);
// The UNet's "timesteps" for a schedule: 0.25 ln(sigma) for every sigma but the final 0.
std::vector<float> svd_timesteps(const std::vector<float>& sigmas);
// The initial noise scale: sqrt(sigma_max^2 + 1) (timestep_spacing "leading").
double svd_init_noise_sigma(const std::vector<float>& sigmas);

// Per-frame guidance weights: linear from w_min (first frame) to w_max (last). [T]
torch::Tensor cfg_ramp(int64_t frames, double w_min, double w_max);

// The network F of the denoiser: F(c_in x, c_noise) with the conditioning applied inside
// (image latent concatenated, embeddings, added time ids). x_in: [B, T, C, h, w] already
// scaled by c_in; returns the v-prediction [B, T, C, h, w]. `conditional` false = zero
// conditioning (the CFG unconditional branch).
using VideoNetwork = std::function<torch::Tensor(const torch::Tensor& x_in, double c_noise, bool conditional)>;

struct EulerResult {
  torch::Tensor latents;  // [B, T, C, h, w]
  int64_t nfe = 0;        // network evaluations made (counted as the network is called)
};

// Euler steps on the PF-ODE from sigmas[0] to sigmas.back() starting at x (already at sigmas[0]):
// x_{s'} = x_s + (s' - s) (x_s - D(x_s; s)) / s, with per-frame CFG when `cfg` (2 NFE per step).
// Adds the evaluations made to *nfe when given. (ACD's m-step teacher solver.)
torch::Tensor euler_solve(const VideoNetwork& net, torch::Tensor x, const std::vector<double>& sigmas, bool cfg,
                          double w_min, double w_max, int64_t* nfe = nullptr);

// Euler on the PF-ODE: x_{s'} = x_s + (s' - s) (x_s - D(x_s; s)) / s over `sigmas`, starting from
// x = noise * init_noise_sigma. With CFG, D = D(c0) + w (D(c) - D(c0)) per frame (2 NFE per step).
EulerResult euler_sample(const VideoNetwork& net, const torch::Tensor& noise, const std::vector<float>& sigmas,
                         bool cfg, double w_min, double w_max);

}  // namespace osv
