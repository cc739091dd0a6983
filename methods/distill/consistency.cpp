#include "methods/distill/consistency.h"

#include <fmt/format.h>

#include <cmath>

#include "common/errors.h"

namespace osv {

std::vector<double> karras_grid(int64_t n, double sigma_min, double sigma_max, double rho) {
  std::vector<double> g;
  const double a = std::pow(sigma_max, 1.0 / rho), b = std::pow(sigma_min, 1.0 / rho);
  for (int64_t i = 0; i < n; ++i) {
    const double r = n == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(n - 1);
    g.push_back(std::pow(a + r * (b - a), rho));
  }
  return g;
}

std::vector<double> consistency_sigmas(int64_t grid_n, int64_t k, double sigma_min, double sigma_max, double rho) {
  if (k < 1 || k > grid_n) throw UsageError(fmt::format("consistency sampling: {} steps on a {}-point grid", k, grid_n));
  const auto g = karras_grid(grid_n, sigma_min, sigma_max, rho);
  std::vector<double> s;
  const int64_t step = grid_n / k;  // AnimateLCM-SVD's set_timesteps: step_ratio = N // k, indices j * step_ratio
  for (int64_t j = 0; j < k; ++j) s.push_back(g[static_cast<std::size_t>(j * step)]);
  return s;
}

ConsistencyParam parse_consistency_param(const std::string& s) {
  if (s == "svd") return ConsistencyParam::Svd;
  if (s == "exact_boundary") return ConsistencyParam::ExactBoundary;
  throw UsageError(fmt::format("consistency parameterisation: expected svd or exact_boundary, got '{}'", s));
}

SkipOut consistency_coefficients(double s, ConsistencyParam p, double sigma_min) {
  if (p == ConsistencyParam::Svd) return {1.0 / (s * s + 1.0), -s / std::sqrt(s * s + 1.0)};
  const double d = s - sigma_min;
  return {1.0 / (d * d + 1.0), -d / std::sqrt(s * s + 1.0)};
}

torch::Tensor consistency_fn(const ConsistencyNet& net, const torch::Tensor& x, double sigma, ConsistencyParam p,
                             double sigma_min) {
  const auto c = consistency_coefficients(sigma, p, sigma_min);
  return c.c_skip * x + c.c_out * net(x, sigma);
}

torch::Tensor consistency_fn_batch(const BatchNet& net, const torch::Tensor& x, const torch::Tensor& sigma,
                                   ConsistencyParam p, double sigma_min) {
  auto s = sigma.to(x.options()).view({-1, 1, 1, 1, 1});
  auto d = p == ConsistencyParam::Svd ? s : s - sigma_min;
  auto c_skip = 1.0 / (d * d + 1.0), c_out = -d / torch::sqrt(s * s + 1.0);
  return c_skip * x + c_out * net(x, sigma);
}

HuberMode parse_huber_mode(const std::string& s, HuberMode reference) {
  if (s == "reference") return reference;
  if (s == "whole") return HuberMode::Whole;
  if (s == "elementwise") return HuberMode::Elementwise;
  if (s == "per_sample") return HuberMode::PerSample;
  throw UsageError(fmt::format("pseudo-Huber mode: expected reference, whole, elementwise or per_sample, got '{}'", s));
}

std::string huber_mode_name(HuberMode m) {
  switch (m) {
    case HuberMode::Whole: return "whole";
    case HuberMode::Elementwise: return "elementwise";
    case HuberMode::PerSample: return "per_sample";
  }
  return "?";
}

double Huber::effective_c(int64_t elements) const {
  return mode == HuberMode::Whole && c_scales_with_sqrt_dim ? c * std::sqrt(static_cast<double>(elements)) : c;
}

torch::Tensor Huber::operator()(const torch::Tensor& x, const torch::Tensor& y) const {
  auto d2 = (x - y).pow(2).flatten(1);  // [B, n]
  const double ce = effective_c(d2.size(1));
  switch (mode) {
    case HuberMode::Whole: return torch::sqrt(d2.sum(1) + ce * ce) - ce;
    case HuberMode::Elementwise: return (torch::sqrt(d2 + ce * ce) - ce).mean(1);
    case HuberMode::PerSample: return torch::sqrt(d2.mean(1) + ce * ce) - ce;
  }
  throw std::logic_error("pseudo-Huber: unknown mode");
}

HingeReduction parse_hinge_reduction(const std::string& s) {
  if (s == "per_logit") return HingeReduction::PerLogit;
  if (s == "clip_mean") return HingeReduction::ClipMean;
  throw UsageError(fmt::format("hinge reduction: expected per_logit or clip_mean, got '{}'", s));
}

torch::Tensor clip_logit(const torch::Tensor& logits) { return logits.dim() == 1 ? logits : logits.flatten(1).mean(1); }

namespace {
torch::Tensor reduce_logits(const torch::Tensor& logits, HingeReduction r) {
  return r == HingeReduction::ClipMean ? clip_logit(logits) : logits;
}
}  // namespace

torch::Tensor hinge_d_loss(const torch::Tensor& real_logits, const torch::Tensor& fake_logits, HingeReduction r) {
  return torch::relu(1.0 - reduce_logits(real_logits, r)).mean() + torch::relu(1.0 + reduce_logits(fake_logits, r)).mean();
}

torch::Tensor hinge_g_loss(const torch::Tensor& fake_logits, HingeReduction r) {
  return torch::relu(1.0 - reduce_logits(fake_logits, r)).mean();
}

torch::Tensor linear_g_loss(const torch::Tensor& fake_logits, HingeReduction r) {
  return -reduce_logits(fake_logits, r).mean();
}

double lambda_weight(double sigma_near, double sigma_far, double power) {
  return std::pow(1.0 / (sigma_far - sigma_near), power);
}

ConsistencySampleResult consistency_sample(const ConsistencyNet& net, const torch::Tensor& noise,
                                           const std::vector<double>& sigmas, ConsistencyParam p, double sigma_min) {
  ConsistencySampleResult r;
  auto x = noise * sigmas.front();
  for (std::size_t j = 0; j < sigmas.size(); ++j) {
    auto z = consistency_fn(net, x, sigmas[j], p, sigma_min);
    ++r.nfe;
    x = j + 1 < sigmas.size() ? z + sigmas[j + 1] * torch::randn_like(z) : z;
  }
  r.latents = x;
  return r;
}

TtsVariant parse_tts_variant(const std::string& s) {
  if (s == "exact") return TtsVariant::Exact;
  if (s == "printed") return TtsVariant::Printed;
  throw UsageError(fmt::format("tts variant: expected exact or printed, got '{}'", s));
}

ConsistencySampleResult tts_sample(const ConsistencyNet& net, const torch::Tensor& noise,
                                   const std::vector<double>& sigmas_k, const std::vector<double>& sigmas_k1,
                                   ConsistencyParam p, double sigma_min, TtsVariant variant, bool fresh_noise) {
  const std::size_t k = sigmas_k.size();
  if (sigmas_k1.size() != k + 1) throw UsageError("tts: the second schedule must have one more step");
  // Ascending t^k_0..t^k_k and t^{k+1}_0..t^{k+1}_{k+1} with sigma(t_0) = 0.
  std::vector<double> tk{0.0}, tk1{0.0};
  for (auto it = sigmas_k.rbegin(); it != sigmas_k.rend(); ++it) tk.push_back(*it);
  for (auto it = sigmas_k1.rbegin(); it != sigmas_k1.rend(); ++it) tk1.push_back(*it);
  for (std::size_t i = 0; i < k; ++i)
    if (!(tk[i] < tk1[i + 1] && tk1[i + 1] < tk[i + 1]))
      throw UsageError(fmt::format("tts: schedules do not interleave at {} ({} < {} < {} fails)", i, tk[i], tk1[i + 1],
                                   tk[i + 1]));
  ConsistencySampleResult r;
  auto eps0 = noise;
  auto x = tk[k] * noise;
  for (std::size_t ii = k; ii-- > 0;) {
    if (fresh_noise) eps0 = torch::randn_like(noise);
    const double a = tk[ii + 1], b = tk1[ii + 1];
    const auto ca = consistency_coefficients(a, p, sigma_min), cb = consistency_coefficients(b, p, sigma_min);
    auto Fa = net(x, a);
    ++r.nfe;
    auto fa = ca.c_skip * x + ca.c_out * Fa;
    auto eps_b = (eps0 + (x - fa) / a) / 2.0;
    auto xb = fa + b * eps_b;
    auto Fb = net(xb, b);
    ++r.nfe;
    auto fb = cb.c_skip * xb + cb.c_out * Fb;
    if (variant == TtsVariant::Exact) {
      x = ii > 0 ? fb + tk[ii] * eps0 : fb;
    } else {
      auto eps_a = (eps0 + (xb - fb) / b) / 2.0;
      x = ca.c_skip * (fb + a * eps_a) + ca.c_out * Fb + tk[ii] * eps0;
    }
  }
  r.latents = x;
  return r;
}

}  // namespace osv
