#include "harness/disc_cost.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <functional>

#include "common/build_info.h"
#include "common/config.h"
#include "common/errors.h"
#include "methods/distill/consistency.h"
#include "methods/osv/discriminator.h"
#include "methods/osv/osv.h"
#include "methods/distill/student.h"
#include "methods/sfv/unet_disc.h"
#include "methods/svd/embedded.h"
#include "methods/svd/svd_pipeline.h"
#include "models/device.h"
#include "models/lora.h"
#include "models/nn_util.h"

namespace osv {

nlohmann::json measure_disc_cost(const DiscCostOptions& o) {
  const auto device = parse_device(o.device);
  const auto dtype = parse_dtype(o.dtype);
  const bool cuda = device.is_cuda();
  const Config c = Config::resolve(o.preset, {});
  torch::manual_seed(0);
  UNetSVDConfig uc;
  VaeTemporalConfig vc;
  Dinov2Config dc;
  const std::string& kind = o.kind;
  const int batch = o.batch;
  LatentDiscriminatorOptions lo;
  lo.kind = kind;
  lo.head_blocks = c.get<std::string>("disc.head_blocks");
  lo.cls_token = c.get<std::string>("disc.cls_token");
  int64_t T = o.frames, h = o.latent_h, w = o.latent_w;
  if (o.arch == "embedded") {
    const auto e = embedded_svd_config(c);
    uc = e.unet;
    vc = e.vae;
    dc = embedded_backbone_config(c);
    lo.input_size = c.get<long long>("disc.input_size");
    lo.taps.clear();
    for (auto t : c.get<std::vector<long long>>("disc.taps")) lo.taps.push_back(t);
    lo.taps_depth = c.get<long long>("disc.taps_depth");
    T = c.get<long long>("data.frames");
    const int64_t factor = int64_t{1} << (vc.block_out_channels.size() - 1);
    h = c.get<long long>("data.height") / factor;
    w = c.get<long long>("data.width") / factor;
  } else if (o.arch == "svd") {
    uc.num_frames = o.frames;  // UNetSVDConfig, VaeTemporalConfig and Dinov2Config defaults are SVD / ViT-B/14
    lo.input_size = 224;
  } else {
    throw UsageError(fmt::format("disc cost: arch '{}' is neither embedded nor svd", o.arch));
  }
  if (kind != "upsampler" && kind != "decoder" && kind != "unet_encoder")
    throw UsageError(fmt::format("disc cost: kind '{}' is none of upsampler, decoder, unet_encoder", kind));
  dc.image_size = lo.input_size;
  auto opts = torch::TensorOptions().device(device).dtype(dtype);
  const int64_t C = vc.latent_channels;  // SVD's 4; the embedded VAE's model.embedded_latent_channels
  lo.latent_channels = C;
  auto real = torch::randn({batch, T, C, h, w}).to(opts);
  std::function<torch::Tensor(const torch::Tensor&)> D;
  LatentDiscriminator latent{nullptr};
  UNetEncoderDiscriminator unet_disc{nullptr};
  Conditioning cond;
  cond.image_latent = torch::randn({batch, C, h, w}).to(opts);
  cond.image_embeds = torch::randn({batch, 1, uc.cross_attention_dim.front()}).to(opts);
  cond.added_time_ids = torch::tensor({{6.0f, 127.0f, 0.02f}}).repeat({batch, 1}).to(opts);
  std::vector<torch::Tensor> d_params;
  if (kind == "unet_encoder") {
    UNetSpatioTemporalConditionModel encoder(uc);
    unet_disc = UNetEncoderDiscriminator(encoder);
    unet_disc->to(device, dtype);
    d_params = unet_disc->trainable_parameters();
    D = [&, grid = karras_grid(1000, 0.002, 700.0)](const torch::Tensor& x) {
      auto s = sample_sigma_prime(grid, -1.0, 1.0, batch).to(device);
      return unet_disc->forward(noised_disc_input(x, s), s, cond);
    };
  } else {
    AutoencoderKLTemporalDecoder vae(vc);
    latent = LatentDiscriminator(lo, Dinov2Model(dc), kind == "decoder" ? vae : nullptr);
    latent->to(device, dtype);
    d_params = latent->trainable_parameters();
    D = [&](const torch::Tensor& x) { return latent->forward(x); };
  }
  // The generator of a whole training step: OSV's student = teacher + LoRA (only LoRA trains),
  // SF-V's = the whole UNet.
  UNetSpatioTemporalConditionModel gen{nullptr};
  std::vector<torch::Tensor> g_params;
  std::unique_ptr<torch::optim::Adam> opt_g, opt_d;
  if (o.with_generator) {
    gen = UNetSpatioTemporalConditionModel(uc);
    const bool lora = kind != "unet_encoder";
    if (lora) add_lora(*gen, student_lora_config(Config::resolve(o.arch == "svd" ? "svd" : o.preset, {})));
    gen->to(device, dtype);
    for (auto& np : gen->named_parameters(true)) {
      const bool train = !lora || np.key().find(".lora_") != std::string::npos;
      np.value().set_requires_grad(train);
      if (train) g_params.push_back(np.value());
    }
    opt_g = std::make_unique<torch::optim::Adam>(g_params, torch::optim::AdamOptions(1e-5));
    opt_d = std::make_unique<torch::optim::Adam>(d_params, torch::optim::AdamOptions(1e-5));
  }
  auto step = [&] {
    torch::Tensor p;
    if (gen) {  // one denoising prediction at sigma = 1 (c_in = 1/sqrt(2)), conditioned as SVD
      auto x = (real + torch::randn_like(real)) / std::sqrt(2.0);
      auto image = cond.image_latent.unsqueeze(1).expand({batch, T, -1, -1, -1});
      p = gen->forward(torch::cat({x, image}, 2), torch::zeros({batch}, opts), cond.image_embeds, cond.added_time_ids);
    } else {
      p = torch::randn({batch, T, C, h, w}, opts).requires_grad_(true);
    }
    torch::Tensor loss_d;
    if (kind == "unet_encoder" && o.r1) {
      MathAttentionGuard math;
      auto x = real.detach().clone().requires_grad_(true);
      auto d_real = D(x);
      auto g = torch::autograd::grad({clip_logit(d_real).sum()}, {x}, {}, true, true)[0];
      loss_d = hinge_d_loss(d_real, D(p.detach())) + 0.5 * g.to(torch::kFloat).pow(2).flatten(1).sum(1).mean();
    } else {
      loss_d = hinge_d_loss(D(real), D(p.detach()));
    }
    loss_d.backward();
    if (opt_d) {
      opt_d->step();
      opt_d->zero_grad();
    }
    auto loss_g = hinge_g_loss(D(p));
    if (gen) loss_g = loss_g + 0.1 * Huber{HuberMode::Whole, 0.001}(real, p).mean();
    loss_g.backward();
    if (opt_g) {
      opt_g->step();
      opt_g->zero_grad();
      opt_d->zero_grad();
    }
    if (cuda) torch::cuda::synchronize();
  };
  step();  // warm-up
  if (cuda) cuda_reset_peak(device.index() < 0 ? 0 : device.index());
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < o.iters; ++i) step();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / o.iters;
  const double peak = cuda ? static_cast<double>(cuda_peak_allocated_bytes(device.index() < 0 ? 0 : device.index())) / (1 << 20)
                           : peak_rss_mib();
  int64_t trainable = 0;
  for (const auto& t : g_params) trainable += t.numel();
  return nlohmann::json{{"bench", "disc_step"},
                        {"kind", kind},
                        {"arch", o.arch},
                        {"preset", o.preset},
                        {"device", o.device},
                        {"dtype", o.dtype},
                        {"batch", batch},
                        {"frames", T},
                        {"latent", {h, w}},
                        {"r1", kind == "unet_encoder" && o.r1},
                        {"with_generator", o.with_generator},
                        {"generator_trainable_params", trainable},
                        {"iters", o.iters},
                        {"s_per_step", s},
                        {cuda ? "peak_cuda_mib" : "peak_rss_mib", peak},
                        {"threads", at::get_num_threads()}};
}

}  // namespace osv
