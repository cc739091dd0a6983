// What the device tests share (tests/unit/test_device_placement.cpp on the fake device and the
// CPU, tests/gpu/test_gpu_methods.cpp on CUDA): the tiny preset's embedded SVD with seeded random
// weights on a device, training clips encoded through it, OSV's discriminator on a small random
// DINOv2, and two seeded training steps of a task.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "methods/api/train_loop.h"
#include "methods/osv/discriminator.h"
#include "methods/svd/embedded.h"
#include "methods/svd/svd_pipeline.h"

namespace osv::testing {

// The tiny preset's embedded SVD with seeded random weights on `device`, and `clips` training clips
// encoded through it (latents and embeddings on the device, first frames on the host, as
// load_train_data leaves them).
struct World {
  Config c;
  std::shared_ptr<SvdPipeline> pipe;
  EncodedClips data;
};

inline std::unique_ptr<World> make_world(c10::Device device, const std::vector<std::string>& overrides = {},
                                         int64_t clips = 4) {
  auto w = std::make_unique<World>(World{Config::resolve("tiny", overrides), nullptr, {}});
  const auto e = embedded_svd_config(w->c);
  torch::manual_seed(0);
  SvdFolder f;
  f.unet = UNetSpatioTemporalConditionModel(e.unet);
  f.vae = AutoencoderKLTemporalDecoder(e.vae);
  f.image_encoder = ClipVisionModelWithProjection(e.image_encoder);
  f.unet->to(device);
  f.vae->to(device);
  f.image_encoder->to(device);
  w->pipe = std::make_shared<SvdPipeline>(f, 1.0, conditioning_options(w->c));
  const int64_t T = w->c.get<long long>("data.frames"), H = w->c.get<long long>("data.height"),
                W = w->c.get<long long>("data.width");
  auto videos = torch::randint(0, 256, {clips, T, 3, H, W}).to(torch::kUInt8);
  w->data = encode_clips(*w->pipe, videos);
  return w;
}

// OSV's latent discriminator on a two-block random DINOv2, on the pipeline's device.
inline LatentDiscriminator tiny_disc(SvdPipeline& pipe, const std::string& kind) {
  Dinov2Config d;
  d.hidden_size = 32;
  d.num_hidden_layers = 2;
  d.num_attention_heads = 2;
  d.patch_size = 14;
  d.image_size = 56;
  torch::manual_seed(3);
  LatentDiscriminatorOptions o;
  o.kind = kind;
  o.input_size = 56;
  o.taps = {0, 1};
  o.head_channels = 16;
  LatentDiscriminator disc(o, Dinov2Model(d), kind == "decoder" ? pipe.models().vae : nullptr);
  disc->to(pipe.device());
  return disc;
}

// Runs `f`, reporting an exception as a failure of `what` (the first line of its message: which
// operator met a host tensor) and going on with the next case.
inline void expect_runs(const std::string& what, const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    const std::string m = e.what();
    ADD_FAILURE() << what << ": " << m.substr(0, m.find('\n'));
  }
}

// Two steps of `task`, seeded as the training loop seeds them; the losses it logged.
inline std::vector<double> two_steps(TrainTask& task) {
  std::vector<double> losses;
  for (int64_t step = 0; step < 2; ++step) {
    torch::manual_seed(1000 + static_cast<uint64_t>(step));
    const auto out = task.step(step);
    EXPECT_TRUE(out.finite) << "step " << step;
    losses.push_back(out.metrics.at("loss"));
  }
  return losses;
}

inline bool all_on(const std::vector<torch::Tensor>& ts, c10::Device d) {
  for (const auto& t : ts)
    if (t.device() != d) return false;
  return true;
}

}  // namespace osv::testing
