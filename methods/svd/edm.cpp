#include "methods/svd/edm.h"

#include <cmath>

namespace osv {

Preconditioning svd_preconditioning(double s) {
  const double r = std::sqrt(s * s + 1.0);
  return {1.0 / r, 1.0 / (s * s + 1.0), -s / r, 0.25 * std::log(s)};
}

std::vector<float> karras_sigmas(int64_t k, double sigma_min, double sigma_max, double rho) {
  std::vector<float> out;
  // In double, rounded to float32 at the end, as the reference scheduler does.
  const double min_inv = std::pow(sigma_min, 1.0 / rho), max_inv = std::pow(sigma_max, 1.0 / rho);
  for (int64_t i = 0; i < k; ++i) {
    const double ramp = k == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(k - 1);
    out.push_back(static_cast<float>(std::pow(max_inv + ramp * (min_inv - max_inv), rho)));
  }
  out.push_back(0.0f);
  return out;
}

std::vector<float> svd_timesteps(const std::vector<float>& sigmas) {
  std::vector<float> t;
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) t.push_back(0.25f * std::log(sigmas[i]));
  return t;
}

double svd_init_noise_sigma(const std::vector<float>& sigmas) {
  float m = 0;
  for (float s : sigmas) m = std::max(m, s);
  return std::sqrt(static_cast<double>(m) * m + 1.0);
}

torch::Tensor cfg_ramp(int64_t frames, double w_min, double w_max) { return torch::linspace(w_min, w_max, frames); }

torch::Tensor euler_solve(const VideoNetwork& net, torch::Tensor x, const std::vector<double>& sigmas, bool cfg,
                          double w_min, double w_max, int64_t* nfe) {
  const int64_t T = x.size(1);
  const auto w = cfg_ramp(T, w_min, w_max).to(x.options()).view({1, T, 1, 1, 1});
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const double s = sigmas[i], s_next = sigmas[i + 1];
    const auto p = svd_preconditioning(s);
    const auto x_in = x * p.c_in;
    auto v = net(x_in, p.c_noise, true);
    if (nfe) ++*nfe;
    if (cfg) {
      auto v0 = net(x_in, p.c_noise, false);
      if (nfe) ++*nfe;
      v = v0 + w * (v - v0);  // guidance on the network output, as the SVD pipeline does
    }
    const auto denoised = x * p.c_skip + v * p.c_out;
    const auto d = (x - denoised) / s;
    x = x + d * (s_next - s);
  }
  return x;
}

EulerResult euler_sample(const VideoNetwork& net, const torch::Tensor& noise, const std::vector<float>& sigmas,
                         bool cfg, double w_min, double w_max) {
  EulerResult r;
  r.latents = euler_solve(net, noise * svd_init_noise_sigma(sigmas), std::vector<double>(sigmas.begin(), sigmas.end()),
                          cfg, w_min, w_max, &r.nfe);
  return r;
}

}  // namespace osv
