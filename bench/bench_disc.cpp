// Cost of OSV's discriminator input path (the paper's Figure 3): one stage-1 discriminator +
// generator-adversarial pass — D(real), D(fake) with the hinge loss backward, then D(p) backward
// to the latents — with the sub-pixel upsampler vs the frozen VAE decoder in front of the same
// frozen DINOv2. Models: the preset's embedded configs, seeded random weights.
//
//   bench_disc --kind upsampler|decoder [--preset small] [--batch 1] [--iters 5]
// Prints one JSON line with seconds per step and this process's peak RSS (run each kind in its
// own process so the peaks are comparable; bench/disc_cost.sh does).
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/build_info.h"
#include "common/config.h"
#include "methods/osv/consistency.h"
#include "methods/osv/discriminator.h"
#include "methods/teacher/embedded.h"

using namespace osv;

int main(int argc, char** argv) {
  CLI::App app{"latent discriminator cost: upsampler vs VAE decoder"};
  std::string preset = "small", kind = "upsampler";
  int batch = 1, iters = 5, threads = 0;
  app.add_option("--preset", preset);
  app.add_option("--kind", kind, "upsampler or decoder");
  app.add_option("--batch", batch);
  app.add_option("--iters", iters);
  app.add_option("--threads", threads);
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) at::set_num_threads(threads);
  const Config c = Config::resolve(preset, {});
  const auto e = embedded_svd_config(c);
  torch::manual_seed(0);
  Dinov2Config dc;
  const bool tiny = c.get<std::string>("model.embedded") == "tiny";
  dc.hidden_size = tiny ? 32 : 64;
  dc.num_hidden_layers = tiny ? 2 : 6;
  dc.num_attention_heads = 2;
  dc.image_size = c.get<long long>("disc.input_size");
  LatentDiscriminatorOptions o;
  o.kind = kind;
  o.input_size = c.get<long long>("disc.input_size");
  o.taps.clear();
  for (auto t : c.get<std::vector<long long>>("disc.taps")) o.taps.push_back(t);
  AutoencoderKLTemporalDecoder vae(e.vae);
  LatentDiscriminator d(o, Dinov2Model(dc), kind == "decoder" ? vae : nullptr);
  const int64_t T = c.get<long long>("data.frames");
  const int64_t factor = int64_t{1} << (e.vae.block_out_channels.size() - 1);
  const int64_t h = c.get<long long>("data.height") / factor, w = c.get<long long>("data.width") / factor;
  auto real = torch::randn({batch, T, 4, h, w});
  auto step = [&] {
    auto p = torch::randn({batch, T, 4, h, w}, torch::requires_grad());
    hinge_d_loss(d->forward(real), d->forward(p.detach())).backward();
    hinge_g_loss(d->forward(p)).backward();
  };
  step();  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) step();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
  std::printf("%s\n", nlohmann::json{{"bench", "disc_step"}, {"kind", kind}, {"preset", preset}, {"batch", batch},
                                     {"frames", T}, {"latent", {h, w}}, {"s_per_step", s},
                                     {"peak_rss_mib", peak_rss_mib()}, {"threads", at::get_num_threads()}}
                          .dump()
                          .c_str());
  return 0;
}
