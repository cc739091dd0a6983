// Cost of the discriminator path (the paper's Figure 3): a command line over measure_disc_cost
// (harness/disc_cost.h, which says what one step includes); `osvbench ablate --table fig3`
// runs the same measurement.
//   --arch embedded: the preset's embedded configs (DINOv2 small config), CPU by default.
//   --arch svd:      SVD's UNet and VAE, DINOv2 ViT-B/14 at 224 (blocks 2, 5, 8, 11 + patch
//                    embedding), latents --frames x 4 x --latent-h x --latent-w (Figure 3: 14
//                    frames at 512x512 -> 64x64).
//
//   bench_disc --kind upsampler|decoder|unet_encoder [--arch embedded|svd] [--preset small]
//              [--device cpu|cuda] [--dtype fp32|bf16] [--batch 1] [--iters 5] [--r1 1]
// Prints one JSON line with seconds per step and the peak memory (process RSS on CPU, the CUDA
// allocator's peak on CUDA). Run each kind in its own process (bench/disc_cost.sh does).
#include <ATen/Parallel.h>

#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "harness/disc_cost.h"

int main(int argc, char** argv) {
  CLI::App app{"discriminator path cost: upsampler vs VAE decoder vs SF-V UNet encoder"};
  osv::DiscCostOptions o;
  int threads = 0, r1 = 1, with_gen = 0;
  app.add_option("--preset", o.preset, "preset whose embedded configs and sizes --arch embedded uses");
  app.add_option("--kind", o.kind, "upsampler, decoder or unet_encoder");
  app.add_option("--arch", o.arch, "embedded or svd");
  app.add_option("--device", o.device);
  app.add_option("--dtype", o.dtype);
  app.add_option("--batch", o.batch);
  app.add_option("--iters", o.iters);
  app.add_option("--threads", threads);
  app.add_option("--r1", r1, "unet_encoder: include SF-V's R1 penalty on real (1) or not (0)");
  app.add_option("--with-generator", with_gen,
                 "1: a whole training step — the generator (OSV: the LoRA student for upsampler/decoder; SF-V: the "
                 "whole UNet for unet_encoder) forward + backward, and Adam steps of G and D");
  app.add_option("--frames", o.frames, "--arch svd: frames");
  app.add_option("--latent-h", o.latent_h, "--arch svd: latent height");
  app.add_option("--latent-w", o.latent_w, "--arch svd: latent width");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) at::set_num_threads(threads);
  o.r1 = r1 != 0;
  o.with_generator = with_gen != 0;
  std::printf("%s\n", osv::measure_disc_cost(o).dump().c_str());
  return 0;
}
