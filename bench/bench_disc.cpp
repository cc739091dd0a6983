// Cost of the discriminator path (the paper's Figure 3): one discriminator step plus the
// generator's adversarial backward (with --with-generator 1: a whole training step, generator
// forward/backward and both Adam steps included) — D(real), D(fake) with the hinge loss backward (SF-V: plus the
// R1 penalty on real), then D(p) backward to the latents — for OSV's sub-pixel upsampler, the VAE
// decoder (ADD-style) and SF-V's UNet-encoder discriminator (frozen teacher down blocks, inputs
// noised with σ'). Seeded random weights.
//   --arch embedded: the preset's embedded configs (DINOv2 small config), CPU by default.
//   --arch svd:      SVD's UNet and VAE, DINOv2 ViT-B/14 at 224 (blocks 2, 5, 8, 11 + patch
//                    embedding), latents --frames x 4 x --latent-h x --latent-w (Figure 3: 14
//                    frames at 512x512 -> 64x64).
//
//   bench_disc --kind upsampler|decoder|unet_encoder [--arch embedded|svd] [--preset small]
//              [--device cpu|cuda] [--dtype fp32|bf16] [--batch 1] [--iters 5] [--r1 1]
// Prints one JSON line with seconds per step and the peak memory (process RSS on CPU, the CUDA
// allocator's peak on CUDA). Run each kind in its own process (bench/disc_cost.sh does).
#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/build_info.h"
#include "common/config.h"
#include "methods/osv/consistency.h"
#include "methods/osv/discriminator.h"
#include "methods/osv/student.h"
#include "methods/sfv/unet_disc.h"
#include "methods/teacher/embedded.h"
#include "methods/teacher/svd_pipeline.h"
#include "models/device.h"
#include "models/lora.h"
#include "models/nn_util.h"

using namespace osv;

int main(int argc, char** argv) {
  CLI::App app{"discriminator path cost: upsampler vs VAE decoder vs SF-V UNet encoder"};
  std::string preset = "small", kind = "upsampler", arch = "embedded", device_name = "cpu", dtype_name = "fp32";
  int batch = 1, iters = 5, threads = 0, r1 = 1;
  int64_t frames = 14, lh = 64, lw = 64;
  int with_gen = 0;
  app.add_option("--preset", preset, "preset whose embedded configs and sizes --arch embedded uses");
  app.add_option("--kind", kind, "upsampler, decoder or unet_encoder");
  app.add_option("--arch", arch, "embedded or svd");
  app.add_option("--device", device_name);
  app.add_option("--dtype", dtype_name);
  app.add_option("--batch", batch);
  app.add_option("--iters", iters);
  app.add_option("--threads", threads);
  app.add_option("--r1", r1, "unet_encoder: include SF-V's R1 penalty on real (1) or not (0)");
  app.add_option("--with-generator", with_gen,
                 "1: a whole training step — the generator (OSV: the LoRA student for upsampler/decoder; SF-V: the "
                 "whole UNet for unet_encoder) forward + backward, and Adam steps of G and D");
  app.add_option("--frames", frames, "--arch svd: frames");
  app.add_option("--latent-h", lh, "--arch svd: latent height");
  app.add_option("--latent-w", lw, "--arch svd: latent width");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) at::set_num_threads(threads);
  const auto device = parse_device(device_name);
  const auto dtype = parse_dtype(dtype_name);
  const bool cuda = device.is_cuda();
  const Config c = Config::resolve(preset, {});
  torch::manual_seed(0);
  UNetSVDConfig uc;
  VaeTemporalConfig vc;
  Dinov2Config dc;
  LatentDiscriminatorOptions o;
  o.kind = kind;
  int64_t T = frames, h = lh, w = lw;
  if (arch == "embedded") {
    const auto e = embedded_svd_config(c);
    uc = e.unet;
    vc = e.vae;
    const bool tiny = c.get<std::string>("model.embedded") == "tiny";
    dc.hidden_size = tiny ? 32 : 64;
    dc.num_hidden_layers = tiny ? 2 : 6;
    dc.num_attention_heads = 2;
    o.input_size = c.get<long long>("disc.input_size");
    o.taps.clear();
    for (auto t : c.get<std::vector<long long>>("disc.taps")) o.taps.push_back(t);
    T = c.get<long long>("data.frames");
    const int64_t factor = int64_t{1} << (vc.block_out_channels.size() - 1);
    h = c.get<long long>("data.height") / factor;
    w = c.get<long long>("data.width") / factor;
  } else if (arch == "svd") {
    uc.num_frames = frames;  // UNetSVDConfig, VaeTemporalConfig and Dinov2Config defaults are SVD / ViT-B/14
    o.input_size = 224;
  } else {
    std::fprintf(stderr, "--arch: embedded or svd\n");
    return 2;
  }
  dc.image_size = o.input_size;
  auto opts = torch::TensorOptions().device(device).dtype(dtype);
  auto real = torch::randn({batch, T, 4, h, w}).to(opts);
  std::function<torch::Tensor(const torch::Tensor&)> D;
  LatentDiscriminator latent{nullptr};
  UNetEncoderDiscriminator unet_disc{nullptr};
  Conditioning cond;
  cond.image_latent = torch::randn({batch, 4, h, w}).to(opts);
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
    latent = LatentDiscriminator(o, Dinov2Model(dc), kind == "decoder" ? vae : nullptr);
    latent->to(device, dtype);
    d_params = latent->trainable_parameters();
    D = [&](const torch::Tensor& x) { return latent->forward(x); };
  }
  // The generator of a whole training step: OSV's student = teacher + LoRA (only LoRA trains),
  // SF-V's = the whole UNet.
  UNetSpatioTemporalConditionModel gen{nullptr};
  std::vector<torch::Tensor> g_params;
  std::unique_ptr<torch::optim::Adam> opt_g, opt_d;
  if (with_gen) {
    gen = UNetSpatioTemporalConditionModel(uc);
    const bool lora = kind != "unet_encoder";
    if (lora) add_lora(*gen, student_lora_config(Config::resolve(arch == "svd" ? "svd" : preset, {})));
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
      p = torch::randn({batch, T, 4, h, w}, opts).requires_grad_(true);
    }
    torch::Tensor loss_d;
    if (kind == "unet_encoder" && r1) {
      MathAttentionGuard math;
      auto x = real.detach().clone().requires_grad_(true);
      auto d_real = D(x);
      auto g = torch::autograd::grad({d_real.sum()}, {x}, {}, true, true)[0];
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
    if (gen) loss_g = loss_g + 0.1 * pseudo_huber(real, p, 0.001, true).mean();
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
  for (int i = 0; i < iters; ++i) step();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
  const double peak = cuda ? static_cast<double>(cuda_peak_allocated_bytes(device.index() < 0 ? 0 : device.index())) / (1 << 20)
                           : peak_rss_mib();
  std::printf("%s\n", nlohmann::json{{"bench", "disc_step"}, {"kind", kind}, {"arch", arch}, {"preset", preset},
                                     {"device", device_name}, {"dtype", dtype_name}, {"batch", batch}, {"frames", T},
                                     {"latent", {h, w}}, {"r1", kind == "unet_encoder" && r1},
                                     {"with_generator", with_gen != 0},
                                     {"generator_trainable_params", [&] {
                                        int64_t n = 0;
                                        for (const auto& t : g_params) n += t.numel();
                                        return n;
                                      }()}, {"s_per_step", s},
                                     {cuda ? "peak_cuda_mib" : "peak_rss_mib", peak},
                                     {"threads", at::get_num_threads()}}
                          .dump()
                          .c_str());
  return 0;
}
