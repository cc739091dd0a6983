// The teacher's Euler sampler vs diffusers' EulerDiscreteScheduler under SVD's config: sigma lists
// and timesteps for k in {1, 2, 4, 8, 14, 25}, and a whole CFG trajectory of the tiny UNet.
#include "methods/svd/edm.h"
#include "models/unet_svd.h"
#include "tests/parity/parity_util.h"

namespace osv {
namespace {

TEST(ParityEuler, SigmasAndTimestepsMatchTheScheduler) {
  const auto ref = parity::io("euler");
  for (int64_t k : {1, 2, 4, 8, 14, 25}) {
    const auto p = "k" + std::to_string(k) + ".";
    const auto sigmas = karras_sigmas(k, 0.002, 700.0);
    const auto ts = svd_timesteps(sigmas);
    parity::expect_close("sigmas k=" + std::to_string(k), torch::tensor(sigmas), ref.tensor(p + "sigmas"), 1e-4);
    parity::expect_close("timesteps k=" + std::to_string(k), torch::tensor(ts), ref.tensor(p + "timesteps"), 1e-4);
    EXPECT_NEAR(svd_init_noise_sigma(sigmas), ref.tensor(p + "init_noise_sigma").item<double>(), 1e-3);
  }
}

TEST(ParityEuler, CfgTrajectoryOfTheTinyUNetMatches) {
  torch::NoGradGuard g;
  const auto ref = parity::io("euler");
  auto unet = load_unet_svd(parity::dir() / "unet");
  const auto noise = ref.tensor("traj.noise");
  const int64_t T = noise.size(1);
  const auto cond = ref.tensor("traj.image_latent").unsqueeze(1).repeat({1, T, 1, 1, 1});
  const auto ehs = ref.tensor("traj.encoder_hidden_states"), ids = ref.tensor("traj.added_time_ids");
  VideoNetwork net = [&](const torch::Tensor& x_in, double c_noise, bool conditional) {
    auto c = conditional ? cond : torch::zeros_like(cond);
    auto e = conditional ? ehs : torch::zeros_like(ehs);
    return unet->forward(torch::cat({x_in, c}, 2), torch::tensor({static_cast<float>(c_noise)}), e, ids);
  };
  const auto steps = ref.tensor("traj.steps").item<int64_t>();
  auto r = euler_sample(net, noise, karras_sigmas(steps, 0.002, 700.0), /*cfg=*/true, 1.0, 3.0);
  EXPECT_EQ(r.nfe, 2 * steps);
  parity::expect_close("euler CFG trajectory (4 steps)", r.latents, ref.tensor("traj.latents"), 1e-4);
}

}  // namespace
}  // namespace osv
