// The teacher as a diffusers user runs SVD: StableVideoDiffusionPipeline.__call__ with PIL first
// frames (CLIP branch resized to 224, the VAE latent of the noise-augmented frame, fps - 1 in the
// added time ids, Euler with the per-frame CFG ramp, temporal decode in chunks) against osvbench's
// conditioning, teacher sampler and decode on the same saved pipeline folder, noise and first frames.
#include <memory>

#include "methods/svd/svd_pipeline.h"
#include "methods/teacher/teacher.h"
#include "models/svd_folder.h"
#include "tests/parity/parity_util.h"

namespace osv {
namespace {

struct Run {
  torch::Tensor embeds, latents;
  int64_t nfe = 0;
};

Run sample(SvdPipeline& pipe, const std::shared_ptr<SvdPipeline>& shared, const SafetensorsFile& ref,
           const torch::Tensor& aug_noise) {
  const auto c = pipe.encode_conditioning(ref.tensor("first_frames"), aug_noise);
  TeacherMethod teacher(shared, 0.002, 700.0, torch::kFloat32);  // the folder's scheduler: sigma_min, sigma_max
  SampleOptions o;
  o.steps = static_cast<int>(ref.tensor("steps").item<int64_t>());
  o.cfg = true;
  o.cfg_min = 1.0f;  // min_guidance_scale
  o.cfg_max = 3.0f;  // max_guidance_scale
  auto r = teacher.sample(c, ref.tensor("noise"), o);
  return Run{c.image_embeds, r.latents, r.nfe};
}

TEST(ParityPipeline, TeacherSamplesTheLatentsAndFramesOfTheDiffusersPipeline) {
  torch::NoGradGuard g;
  const auto ref = parity::io("pipeline");
  auto folder = load_svd_folder(parity::dir() / "svd_pipeline", torch::kFloat32);
  const double scaling = folder.vae->config().scaling_factor;
  ConditioningOptions cond;  // the reference call's: noise_aug_strength 0.02, fps 7, motion_bucket_id 127
  auto pipe = std::make_shared<SvdPipeline>(std::move(folder), scaling, cond);
  const auto run = sample(*pipe, pipe, ref, ref.tensor("aug_noise"));
  parity::expect_close("pipeline CLIP embeddings (224 resize)", run.embeds, ref.tensor("image_embeds"), 1e-5);
  EXPECT_EQ(run.nfe, 2 * ref.tensor("steps").item<int64_t>());
  // fp32 through 4 CFG steps of the tiny UNet and the VAE encoder: measured 2.9e-5 (max |ref| 4.9).
  const double tol = 1e-4;
  const double d = parity::expect_close("pipeline latents (4 Euler steps, CFG ramp 1->3)", run.latents,
                                        ref.tensor("latents"), tol);
  // The decoded clips in 8-bit: equal but where a value sits on a rounding boundary.
  auto frames_diff = [](const torch::Tensor& video, const torch::Tensor& ref01) {
    const auto expected = (ref01 * 255.0).round().to(torch::kUInt8);
    EXPECT_EQ(video.sizes(), expected.sizes());
    return (video.to(torch::kInt32) - expected.to(torch::kInt32)).abs();  // [B, T, 3, H, W]
  };
  auto expect_frames = [&](const std::string& what, const torch::Tensor& diff) {
    const int worst = diff.max().item<int>();
    const double share = diff.gt(0).to(torch::kFloat64).mean().item<double>();
    std::printf("[parity] %-40s max |diff| %d (8-bit), %.3f%% of values differ\n", what.c_str(), worst, 100 * share);
    EXPECT_LE(worst, 1) << what;
    EXPECT_LT(share, 0.01) << what;
  };
  const int64_t T = run.latents.size(1);
  expect_frames("pipeline frames (one chunk per clip)", frames_diff(pipe->decode(run.latents, T), ref.tensor("video")));
  expect_frames("pipeline frames (one clip, chunks 3 + 2)",
                frames_diff(pipe->decode(run.latents.slice(0, 0, 1), 3), ref.tensor("video_one_chunk3")));
  // diffusers chunks the flattened batch: with 2 clips of 5 frames in chunks of 3, frames 3 and 4
  // of clip 0 are decoded with frame 0 of clip 1 by the temporal decoder. osvbench chunks each
  // clip (a clip's frames never depend on the other clips in its batch; fidelity ledger): the
  // first chunk agrees, the mixed ones do not (pinned, so a change on either side is seen).
  const auto mixed = frames_diff(pipe->decode(run.latents, 3), ref.tensor("video_batch_chunk3"));
  expect_frames("pipeline frames (batch of 2, first chunk)", mixed.select(0, 0).slice(0, 0, 3));
  const int across = mixed.select(0, 1).max().item<int>();
  std::printf("[parity] chunks across clips (diffusers' batch chunking): max |diff| %d (8-bit)\n", across);
  EXPECT_GT(across, 8);
  // The tolerance sees the conditioning: the same call without the augmentation noise of the
  // pipeline's first draw ends far outside it.
  const auto plain = sample(*pipe, pipe, ref, torch::zeros_like(ref.tensor("aug_noise")));
  const double off = (plain.latents - ref.tensor("latents")).abs().max().item<double>();
  std::printf("[parity] without the augmentation noise: max |diff| %.3g (%.0fx the match)\n", off, off / d);
  EXPECT_GT(off, 100 * tol);
}

}  // namespace
}  // namespace osv
