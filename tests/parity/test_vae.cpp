// Temporal VAE: C++ vs diffusers AutoencoderKLTemporalDecoder (tiny random config, 3 frames).
#include "models/vae_temporal.h"
#include "tests/parity/parity_util.h"

namespace osv {
namespace {

TEST(ParityVae, EncoderMatchesDiffusers) {
  torch::NoGradGuard g;
  auto m = load_vae_temporal(parity::dir() / "vae");
  const auto ref = parity::io("vae");
  auto dist = m->encode(ref.tensor("images"));
  parity::expect_close("vae encode mean (mode)", dist.mode(), ref.tensor("latent_mean"), 1e-4);
  parity::expect_close("vae encode std", dist.std(), ref.tensor("latent_std"), 1e-4);
}

TEST(ParityVae, TemporalDecoderMatchesDiffusers) {
  torch::NoGradGuard g;
  auto m = load_vae_temporal(parity::dir() / "vae");
  const auto ref = parity::io("vae");
  const int64_t frames = ref.tensor("num_frames").item<int64_t>();
  auto out = m->decode(ref.tensor("latents"), frames);
  parity::expect_close("vae decode", out, ref.tensor("decoded"), 1e-4);
  // Chunked decoding of whole videos (chunk = T) is the same computation.
  auto z = ref.tensor("latents");
  auto video = m->decode_video(z.view({-1, frames, z.size(1), z.size(2), z.size(3)}), frames);
  parity::expect_close("vae decode_video", video.flatten(0, 1), ref.tensor("decoded"), 1e-4);
}

}  // namespace
}  // namespace osv
