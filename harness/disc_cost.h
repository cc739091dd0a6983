// Cost of the discriminator path (the paper's Figure 3), measured in this process: one
// discriminator step plus the generator's adversarial backward — D(real), D(fake) with the hinge
// loss backward (SF-V: plus the R1 penalty on real), then D(p) backward to the latents — for OSV's
// sub-pixel upsampler, the VAE decoder (ADD-style) and SF-V's UNet-encoder discriminator (frozen
// teacher down blocks, inputs noised with σ'). With `with_generator`, a whole training step: the
// generator (OSV: teacher + LoRA, only LoRA trains; SF-V: the whole UNet) forward + backward and
// Adam steps of G and D. Seeded random weights; peak memory is the process's RSS on CPU (so
// measure each kind in a fresh process) or the CUDA allocator's peak.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace osv {

struct DiscCostOptions {
  std::string kind = "upsampler";  // upsampler, decoder or unet_encoder
  std::string arch = "embedded";   // embedded: the preset's embedded configs; svd: SVD UNet/VAE, DINOv2 ViT-B/14 at 224
  std::string preset = "small";
  std::string device = "cpu";
  std::string dtype = "fp32";
  int batch = 1, iters = 5;
  bool r1 = true;               // unet_encoder: SF-V's R1 penalty on real
  bool with_generator = false;  // a whole training step
  int64_t frames = 14, latent_h = 64, latent_w = 64;  // arch svd (Figure 3: 14 frames at 512x512)
};

// One JSON object: the options, s_per_step (mean of `iters` steps after a warm-up),
// peak_rss_mib or peak_cuda_mib, the generator's trainable parameter count, threads.
nlohmann::json measure_disc_cost(const DiscCostOptions& o);

}  // namespace osv
