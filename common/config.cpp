#include "common/config.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <algorithm>
#include <map>
#include <mutex>
#include <regex>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "common/sha256.h"
#include "common/text.h"

namespace osv {

using Json = nlohmann::json;

std::string_view key_type_name(KeyType t) {
  switch (t) {
    case KeyType::Int: return "integer";
    case KeyType::Float: return "number";
    case KeyType::Bool: return "boolean (true/false)";
    case KeyType::String: return "string";
    case KeyType::IntList: return "comma-separated list of integers";
    case KeyType::FloatList: return "comma-separated list of numbers";
    case KeyType::StringList: return "comma-separated list of strings";
  }
  return "?";
}

namespace {

KeySpec K(std::string path, KeyType type, Json def, std::string doc, std::vector<std::string> choices = {},
          std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt, bool hashed = true) {
  return KeySpec{std::move(path), type, std::move(def), std::move(doc), std::move(choices), min, max, hashed};
}

using T = KeyType;
constexpr double kInf = 1e300;
constexpr int kMaxConfigDepth = 16;  // a config nests 3 deep ({"osv": {"cfg_wmin_choices": [..]}})

std::vector<KeySpec> build_schema() {
  std::vector<KeySpec> s;
  // --- identity and execution ---
  s.push_back(K("preset", T::String, "small", "preset this config was resolved from",
                {"tiny", "small", "svd"}, {}, {}, false));
  s.push_back(K("method", T::String, "teacher", "method to train/sample (see `osvbench info --methods`)"));
  s.push_back(K("seed", T::Int, 0, "global seed for training and data order", {}, 0));
  s.push_back(K("device", T::String, "cpu", "torch device: cpu, cuda, cuda:N", {}, {}, {}, false));
  s.back().pattern = "cpu|cuda(:[0-9]{1,3})?";  // reaches child processes' argument vectors (ablate fig3)
  s.back().pattern_doc = "cpu, cuda or cuda:N";
  s.push_back(K("precision", T::String, "fp32",
                "autocast of the networks' forward passes when the distilled methods train and every method "
                "samples: fp32 [default], bf16, or fp16 (sampling only: fp16 training would need loss scaling); "
                "weights, optimiser state and losses stay fp32. The embedded models prepare builds train in fp32",
                {"fp32", "bf16", "fp16"}));
  // This dtype drives only the discriminator cost measurement
  // (`ablate --table fig3` passes it to `disc-cost --dtype`). Named for what it does.
  s.push_back(K("disc_cost.dtype", T::String, "fp32",
                "dtype of the discriminator cost measurement (ablate --table fig3); training and sampling run in fp32",
                {"fp32", "fp16", "bf16"}));
  s.push_back(K("run.root", T::String, "runs", "directory holding run directories", {}, {}, {}, false));
  s.push_back(K("run.threads", T::Int, 0,
                "intra-op CPU threads, 0 = torch default (reproducible mode: 0 = 2, fixed so reductions sum in one order)",
                {}, 0, {}, false));
  s.push_back(K("run.reproducible", T::Bool, true,
                "cap CPU kernels at AVX2 (ATen, oneDNN, MKL CBWR) and fix the thread count so every x86-64 machine "
                "computes the same bits; false = native ISA, faster, machine-dependent bits (decided at process "
                "start: pass it on the command line)",
                {}, {}, {}, false));
  s.push_back(K("run.progress_interval_s", T::Float, 10.0,
                "seconds between progress lines when not on a terminal", {}, 0.1, {}, false));
  s.push_back(K("train.max_skipped_share", T::Float, 0.1,
                "a training run whose skipped (non-finite) generator or discriminator updates exceed this share of "
                "its steps fails instead of being cached as finished",
                {}, 0.0, 1.0, false));
  s.push_back(K("run.checkpoint_every", T::Int, 100, "training steps between checkpoints", {}, 1, {},
                false));
  s.push_back(K("run.profile_steps", T::Int, 0,
                "profile this many steps (after the first) of every training run with torch's CPU profiler: "
                "<run>/profile.md gives the self seconds per operator and per kind of work, the time outside "
                "operators and the threads' CPU use; 0 = off",
                {}, 0, {}, false));
  // --- data (SPEC §5: OpenVid-1M, 1,000 test clips, 14 frames, 7 fps) ---
  s.push_back(K("data.source", T::String, "synthetic", "where clips come from",
                {"synthetic", "openvid", "mp4_folder", "frames_folder"}));
  s.push_back(K("data.root", T::String, "", "folder of videos (openvid/mp4_folder/frames_folder)"));
  s.push_back(K("data.csv", T::String, "", "OpenVid-1M CSV (openvid)"));
  s.push_back(K("data.frames", T::Int, 14, "frames per clip T", {}, 1));
  s.push_back(K("data.height", T::Int, 576, "clip height H in pixels (multiple of 8)", {}, 8));
  s.push_back(K("data.width", T::Int, 1024, "clip width W in pixels (multiple of 8)", {}, 8));
  s.push_back(K("data.fps", T::Float, 7.0, "frame rate clips are resampled to", {}, 0.1));
  s.push_back(K("data.num_train", T::Int, 0, "training clips, 0 = all available", {}, 0));
  s.push_back(K("data.num_test", T::Int, 1000, "held-out test clips (paper: 1,000)", {}, 1));
  s.push_back(K("data.split_seed", T::Int, 0, "seed of the train/test split", {}, 0));
  // --- models ---
  s.push_back(K("model.path", T::String, "", "diffusers SVD folder (svd preset); empty = embedded models"));
  s.push_back(K("model.vae_scaling_factor", T::Float, 0.0,
                "VAE latent scaling factor; 0 = the VAE config's (SVD: 0.18215, SPEC §1)", {}, 0.0));
  s.push_back(K("model.embedded", T::String, "small", "size of the embedded models prepare trains (model.path empty)",
                {"tiny", "small"}));
  s.push_back(K("model.embedded_latent_channels", T::Int, 4,
                "latent channels of the embedded VAE (and the UNet's in/out channels): 4 [default] is SVD's; "
                "the small preset takes 16 (README: the reconstruction floor at 4 and 16)",
                {}, 1));
  // --- EDM / SVD preconditioning (SPEC §1) ---
  s.push_back(K("edm.sigma_min", T::Float, 0.002, "smallest noise level", {}, 0.0));
  s.push_back(K("edm.sigma_max", T::Float, 700.0, "largest noise level", {}, 0.0));
  s.push_back(K("edm.rho", T::Float, 7.0, "Karras schedule exponent", {}, 0.0));
  s.push_back(K("edm.sigma_data", T::Float, 1.0, "data standard deviation of the preconditioning", {}, 0.0));
  s.push_back(K("cond.fps", T::Int, 7, "added_time_ids fps (passed as fps - 1)", {}, 1));
  s.push_back(K("cond.motion_bucket_id", T::Int, 127, "added_time_ids motion bucket", {}, 0));
  s.push_back(K("cond.noise_aug", T::Float, 0.02, "noise augmentation of the conditioning frame", {}, 0.0));
  // --- sampling (SPEC §1, §3) ---
  s.push_back(K("sample.steps", T::Int, 25, "sampling steps k", {}, 1, 100000));
  s.push_back(K("sample.sampler", T::String, "euler", "sampler: teacher Euler, k-step consistency, Time Travel",
                {"euler", "consistency", "tts"}));
  s.push_back(K("sample.cfg", T::Bool, true, "classifier-free guidance at inference (2 NFE per step)"));
  s.push_back(K("sample.cfg_min", T::Float, 1.0, "CFG ramp start (first frame)", {}, 0.0));
  s.push_back(K("sample.cfg_max", T::Float, 3.0, "CFG ramp end (last frame); the paper's 'CFG = 3.0'", {}, 0.0));
  s.push_back(K("osv.tts", T::String, "exact",
                "Time Travel Sampler reading: exact (renoise the last f to the next step with eps0; an ideal "
                "denoiser ends at its x0) [default] or printed (eq. 13 literally; leaves noise even then)",
                {"exact", "printed"}));
  s.push_back(K("sample.tts_fresh_noise", T::Bool, false,
                "TTS: fresh Gaussian noise per step instead of the chain's initial noise [default false]"));
  s.push_back(K("sample.num_samples", T::Int, 1000, "clips generated for evaluation", {}, 1));
  s.push_back(K("sample.seed", T::Int, 0, "seed of the sampling noise", {}, 0));
  s.push_back(K("debug.fault", T::String, "none",
                "fault injection for testing the regression gate (a planted sampler bug): noisy_latents adds "
                "N(0, 0.5^2) to every sample's latents before decoding; raw_noise decodes the noise the sampler "
                "started from instead of its result; black_video replaces the decoded frames with black ones",
                {"none", "noisy_latents", "raw_noise", "black_video"}));
  // --- shared training knobs (SPEC §2) ---
  s.push_back(K("train.grid_n", T::Int, 100, "Karras training grid size N [default 100]", {}, 2));
  s.push_back(K("train.huber_c", T::Float, 0.001, "pseudo-Huber c (paper appendix)", {}, 0.0));
  s.push_back(K("train.huber_mode", T::String, "reference",
                "pseudo-Huber distance: reference = as each method's source computes it (OSV: whole, the paper's "
                "sqrt(||x-y||^2 + c^2) - c over a sample; AnimateLCM: elementwise, its public code's "
                "mean(sqrt((x-y)^2 + c^2) - c); SF-V: whole), or one form for every method; per_sample = "
                "sqrt(mean((x-y)^2) + c^2) - c (this harness's earlier form)",
                {"reference", "whole", "elementwise", "per_sample"}));
  s.push_back(K("train.huber_c_scaling", T::String, "fixed",
                "whole pseudo-Huber: c as given [default, the paper's adjustable constant] or c * sqrt(elements of a "
                "sample) (iCT's rule c = 0.00054 sqrt(d))",
                {"fixed", "sqrt_dim"}));
  s.push_back(K("train.lambda_power", T::Float, 0.1, "weight (1/(sigma_n - sigma_n+1))^p [default 0.1]", {}, 0.0));
  s.push_back(K("train.consistency_param", T::String, "svd",
                "consistency function: SVD preconditioning [default] or exact boundary", {"svd", "exact_boundary"}));
  s.push_back(K("train.batch", T::Int, 1, "clips per step (paper: 1)", {}, 1));
  s.push_back(K("train.cond_dropout", T::Float, 0.1, "teacher training: conditioning dropout for CFG", {}, 0.0, 1.0));
  s.push_back(K("train.teacher_iters", T::Int, 20000, "teacher training iterations (embedded presets)", {}, 0));
  s.push_back(K("train.teacher_lr", T::Float, 1e-4, "teacher training learning rate (embedded presets)", {}, 0.0));
  s.push_back(K("train.teacher_batch", T::Int, 8, "teacher training clips per step (embedded presets)", {}, 1));
  s.push_back(K("train.p_mean", T::Float, 0.7, "teacher training: mean of ln(sigma) (SVD fine-tuning: 0.7)"));
  s.push_back(K("train.p_std", T::Float, 1.6, "teacher training: std of ln(sigma) (SVD fine-tuning: 1.6)", {}, 0.0));
  s.push_back(K("train.vae_iters", T::Int, 1500, "embedded VAE training iterations", {}, 0));
  s.push_back(K("train.vae_lr", T::Float, 5e-4, "embedded VAE learning rate", {}, 0.0));
  s.push_back(K("train.vae_kl_weight", T::Float, 1e-6, "embedded VAE KL weight", {}, 0.0));
  s.push_back(K("train.vae_pool_weight", T::Float, 0.0,
                "embedded VAE: weight of an L1 pulling the latent's first 3 channels to the frame's average "
                "pool at latent resolution (gives the latent the frame's colours from the first step)",
                {}, 0.0));
  s.push_back(K("train.image_encoder_iters", T::Int, 400, "embedded image encoder training iterations", {}, 0));
  s.push_back(K("train.image_encoder_lr", T::Float, 5e-4, "embedded image encoder learning rate", {}, 0.0));
  // --- OSV (SPEC §3) ---
  s.push_back(K("osv.lora_rank", T::Int, 64, "LoRA rank [default 64]", {}, 1));
  s.push_back(K("osv.lora_alpha", T::Float, 64.0, "LoRA alpha [default 64]", {}, 0.0));
  s.push_back(K("osv.lambda_lgp", T::Float, 0.1, "stage-1 adversarial weight", {}, 0.0));
  s.push_back(K("osv.lambda_acd", T::Float, 0.1, "stage-2 adversarial weight", {}, 0.0));
  s.push_back(K("osv.solver_steps", T::Int, 5, "teacher Euler steps m in ACD [default 5]", {}, 1));
  s.push_back(K("osv.ema", T::Float, 0.95, "EMA target decay mu [default 0.95]", {}, 0.0, 1.0));
  s.push_back(K("osv.cfg_wmin_choices", T::FloatList, Json::array({1.0, 1.25, 1.5}),
                "ACD teacher CFG ramp start, drawn uniformly [default, AnimateLCM]", {}, 0.0));
  s.push_back(K("osv.cfg_wmax_choices", T::FloatList, Json::array({2.0, 2.25, 2.5}),
                "ACD teacher CFG ramp end, drawn uniformly [default, AnimateLCM]", {}, 0.0));
  s.push_back(K("osv.extra_trainable", T::StringList, Json::array(),
                "parameter-name patterns trained besides LoRA in stage 2 [default none]"));
  s.push_back(K("osv.stage1", T::Bool, true, "run stage 1 (LGP); Table 2b/2c"));
  s.push_back(K("osv.stage2", T::Bool, true, "run stage 2 (ACD); Table 2c"));
  s.push_back(K("osv.adversarial", T::Bool, true, "adversarial loss in stage 2 (ACD); Table 2d"));
  s.push_back(K("osv.adversarial_stage1", T::Bool, true,
                "adversarial loss in stage 1 (LGP); Table 2d's paper reading drops it in both stages"));
  s.push_back(K("osv.stage1_iters", T::Int, 2000, "stage-1 iterations (paper 2k)", {}, 0));
  s.push_back(K("osv.stage2_iters", T::Int, 20000, "stage-2 iterations (paper 20k)", {}, 0));
  s.push_back(K("osv.stage1_resolution", T::String, "high",
                "stage-1 training data: the preset's frame size or half of it (Table 2g)", {"high", "low"}));
  s.push_back(K("osv.stage2_resolution", T::String, "low_then_high",
                "stage-2 training data: half the preset's size, then full for the last stage2_highres_fraction "
                "of the iterations [paper], or one size throughout (Table 2h)",
                {"low_then_high", "high", "low"}));
  s.push_back(K("osv.stage2_highres_fraction", T::Float, 0.5,
                "low_then_high: share of stage-2 iterations at full size (paper 10k of 20k)", {}, 0.0, 1.0));
  s.push_back(K("osv.lr", T::Float, 5e-6, "Adam learning rate, both stages", {}, 0.0));
  // --- latent discriminator (SPEC §3) ---
  s.push_back(K("disc.kind", T::String, "upsampler", "discriminator input path; Table 2e",
                {"upsampler", "decoder", "unet_encoder"}));
  s.push_back(K("disc.upsample_r", T::Int, 4, "sub-pixel upsampling factor r", {}, 1));
  s.push_back(K("disc.input_size", T::Int, 224, "backbone input size (multiple of the patch size)", {}, 14));
  s.push_back(K("disc.taps", T::IntList, Json::array({2, 5, 8, 11}), "backbone blocks tapped [default]", {}, 0));
  s.push_back(K("disc.taps_depth", T::Int, 12,
                "disc.taps are blocks of a backbone this deep, scaled proportionally to the real one's depth "
                "(12: StyleGAN-T's {2,5,8,11}; a 24-block ViT-L taps {5,11,17,23}); 0 = the backbone's own blocks",
                {}, 0));
  s.push_back(K("disc.tap_patch_embed", T::Bool, true, "also tap the patch embedding [default]"));
  s.push_back(K("disc.backbone_path", T::String, "", "DINOv2 (transformers layout); empty = embedded backbone"));
  s.push_back(K("disc.backbone_pretrain_iters", T::Int, 2000,
                "embedded DINOv2: masked-image-modelling pretraining steps (disc.backbone_path empty)", {}, 0));
  s.push_back(K("disc.backbone_pretrain_lr", T::Float, 5e-4, "embedded DINOv2: pretraining learning rate (AdamW)",
                {}, 0.0));
  s.push_back(K("disc.backbone_pretrain_batch", T::Int, 32, "embedded DINOv2: frames per pretraining step", {}, 1));
  s.push_back(K("disc.backbone_pretrain_frames", T::Int, 2048,
                "embedded DINOv2: synthetic frames (of its own seed) it is pretrained on", {}, 8));
  s.push_back(K("disc.backbone_pretrain_mask", T::Float, 0.6, "embedded DINOv2: share of patches masked (SimMIM)",
                {}, 0.0, 1.0));
  s.push_back(K("disc.lr", T::Float, 5e-6, "discriminator learning rate", {}, 0.0));
  s.push_back(K("disc.adam_betas", T::FloatList, Json::array({0.9, 0.999}),
                "OSV's discriminator's Adam (beta1, beta2): torch's defaults, as the paper says only 'Adam' [default]; "
                "StyleGAN-T's discriminator uses 0,0.99"));
  s.push_back(K("disc.head_blocks", T::String, "stylegan_t",
                "OSV's discriminator head blocks: StyleGAN-T's (spectral-normalised convs, local batch norm per clip, "
                "residual / sqrt 2) [default], or plain Conv -> ResBlock -> Conv without normalisation",
                {"stylegan_t", "plain"}));
  s.push_back(K("disc.cls_token", T::String, "add",
                "the backbone's CLS token at OSV's discriminator taps: added to every patch token (StyleGAN-T's "
                "AddReadout) [default], or dropped",
                {"add", "drop"}));
  s.push_back(K("disc.hinge", T::String, "per_logit",
                "hinge of OSV's and SF-V's discriminators: on every head's every logit, then the mean (Projected "
                "GAN / StyleGAN-T) [default], or on each clip's mean logit",
                {"per_logit", "clip_mean"}));
  // --- AnimateLCM (SPEC §4) ---
  s.push_back(K("animatelcm.grid_n", T::Int, 40, "Karras grid size", {}, 2));
  s.push_back(K("animatelcm.lr", T::Float, 1e-6, "AdamW learning rate", {}, 0.0));
  s.push_back(K("animatelcm.weight_decay", T::Float, 1e-3, "AdamW weight decay", {}, 0.0));
  s.push_back(K("animatelcm.strategy", T::String, "whole", "trained parameters", {"whole", "decoupled", "lora"}));
  s.push_back(K("animatelcm.ema", T::Float, 0.95, "target EMA decay", {}, 0.0, 1.0));
  s.push_back(K("animatelcm.iters", T::Int, 20000, "training iterations", {}, 0));
  s.push_back(K("animatelcm.weights", T::String, "",
                "released AnimateLCM-SVD UNet weights to sample instead of training (a safetensors file with "
                "diffusers UNet keys, e.g. AnimateLCM-SVD-xt.safetensors, or a diffusers unet/ folder); sampled on "
                "its own 40-point schedule with SVD's scalings, as its scheduler does"));
  // --- SF-V (SPEC §4) ---
  s.push_back(K("sfv.gen_grid", T::Int, 4, "Karras grid the generator noise is drawn from", {}, 1));
  s.push_back(K("sfv.gen_levels", T::String, "top",
                "generator noise levels: the grid's points but sigma_min (SF-V eq. 5: {700, 70.5, 2.27} on 4 points) "
                "[default] or all of them",
                {"top", "all"}));
  s.push_back(K("sfv.disc_grid", T::Int, 1000, "Karras grid of the discriminator noise sigma'", {}, 2));
  s.push_back(K("sfv.p_mean", T::Float, -1.0, "log-normal mean of sigma'"));
  s.push_back(K("sfv.p_std", T::Float, 1.0, "log-normal std of sigma'", {}, 0.0));
  s.push_back(K("sfv.r1_gamma", T::Float, 1.0, "R1 penalty weight on real inputs [default 1.0; not given]", {}, 0.0));
  s.push_back(K("sfv.g_loss", T::String, "linear",
                "SF-V generator's adversarial term: linear -D (its eq. 8, as StyleGAN-T/ADD) [default] or the hinge "
                "ReLU(1 - D)",
                {"linear", "hinge"}));
  s.push_back(K("sfv.recon_weight", T::Float, 0.1, "pseudo-Huber reconstruction weight", {}, 0.0));
  s.push_back(K("sfv.lr_g", T::Float, 1e-5, "generator learning rate", {}, 0.0));
  s.push_back(K("sfv.lr_d", T::Float, 1e-4, "discriminator learning rate", {}, 0.0));
  s.push_back(K("sfv.ema", T::Float, 0.95, "generator EMA decay", {}, 0.0, 1.0));
  s.push_back(K("sfv.iters", T::Int, 20000, "training iterations", {}, 0));
  // --- FVD (SPEC §6) ---
  s.push_back(K("fvd.detector", T::String, "i3d", "feature extractor: native I3D or the TorchScript detector (loading a TorchScript .pt can run code it holds: use only files you trust)",
                {"i3d", "i3d_torchscript"}));
  s.push_back(K("fvd.weights", T::String, "", "detector weights (safetensors or .pt); empty = embedded default"));
  s.push_back(K("fvd.bn_eps", T::Float, 1e-3, "I3D batch-norm eps: 1e-3 TF-faithful, 1e-5 VideoGPT/TATS", {}, 0.0));
  s.push_back(K("fvd.preprocess", T::String, "tf", "preprocessing mode", {"tf", "styleganv", "center"}));
  s.push_back(K("fvd.cov_normaliser", T::String, "N", "covariance normaliser: N (StyleGAN-V) or N-1 (TF-GAN)",
                {"N", "N-1"}));
  s.push_back(K("fvd.features", T::String, "logits", "400-d logits or 1024-d pooled features", {"logits", "pool"}));
  s.push_back(K("fvd.num_real", T::Int, 1000, "real clips in the statistics", {}, 2));
  s.push_back(K("fvd.num_fake", T::Int, 1000, "generated clips in the statistics", {}, 2));
  s.push_back(K("fvd.frames", T::Int, 14, "frames per clip fed to the detector", {}, 1));
  s.push_back(K("fvd.subset_seed", T::Int, 0, "seed of a protocol's subset of a larger folder and of its random frame windows", {}, 0));
  s.push_back(K("fvd.input_size", T::Int, 224, "detector input resolution (224 for Kinetics weights)", {}, 16));
  s.push_back(K("fvd.embedded_train_steps", T::Int, 400,
                "training steps of the embedded detector (used when fvd.weights is empty)", {}, 0));
  s.push_back(K("fvd.embedded_motion_weight", T::Float, 4.0,
                "loss weight of the embedded detector's motion targets, appearance targets weigh 1 (used when "
                "fvd.weights is empty)", {}, 0.0));
  s.push_back(K("fvd.bootstrap", T::Int, 1000, "bootstrap resamples of the confidence interval, 0 = none", {}, 0, 1000000));
  s.push_back(K("fvd.bootstrap_seed", T::Int, 0, "seed of the bootstrap", {}, 0));
  return s;
}

// Preset values over the schema defaults. The svd preset is the paper's scale; tiny runs in
// CI in seconds; small is the embedded default for a 2-core CPU, whose distilled methods train one
// budget: 600 student optimiser steps x train.batch (OSV 200 + 400, AnimateLCM 600, SF-V 600).
const std::map<std::string, Json>& presets() {
  static const std::map<std::string, Json> p = {
      {"tiny",
       Json{{"device", "cpu"}, {"data.frames", 4}, {"data.height", 32}, {"data.width", 32},
            {"data.num_train", 16}, {"data.num_test", 8}, {"sample.num_samples", 8}, {"sample.steps", 4},
            {"train.teacher_iters", 20}, {"train.teacher_lr", 1e-3}, {"train.grid_n", 20},
            {"train.teacher_batch", 2}, {"train.vae_iters", 10}, {"train.image_encoder_iters", 5},
            {"model.embedded", "tiny"},
            {"osv.lora_rank", 4}, {"osv.lora_alpha", 4.0}, {"osv.stage1_iters", 4}, {"osv.stage2_iters", 8},
            {"osv.stage2_resolution", "high"}, {"osv.lr", 1e-4}, {"disc.lr", 1e-4}, {"disc.input_size", 56},
            {"disc.taps", Json::array({0, 1})}, {"disc.taps_depth", 0}, {"disc.backbone_pretrain_iters", 20},
            {"disc.backbone_pretrain_batch", 8}, {"disc.backbone_pretrain_frames", 64}, {"animatelcm.iters", 8}, {"animatelcm.lr", 1e-4}, {"sfv.iters", 8},
            {"fvd.num_real", 8}, {"fvd.num_fake", 8}, {"fvd.frames", 4}, {"fvd.bootstrap", 20},
            {"fvd.input_size", 32}, {"fvd.embedded_train_steps", 2},
            {"run.checkpoint_every", 5}}},
      {"small",
       Json{{"device", "cpu"}, {"data.frames", 8}, {"data.height", 64}, {"data.width", 64},
            {"data.num_train", 2048}, {"data.num_test", 256}, {"sample.num_samples", 256},
            {"train.teacher_iters", 1500}, {"train.teacher_lr", 2e-4}, {"train.vae_iters", 5000}, {"train.vae_lr", 1e-3},
            {"train.vae_pool_weight", 1.0}, {"model.embedded_latent_channels", 16},
            {"osv.lora_rank", 16},
            {"osv.lora_alpha", 16.0}, {"osv.stage1_iters", 200}, {"osv.stage2_iters", 400},
            {"osv.stage2_resolution", "high"}, {"osv.lr", 1e-4}, {"disc.lr", 1e-4}, {"disc.input_size", 112},
            {"disc.taps", Json::array({1, 3, 5})}, {"disc.taps_depth", 0}, {"animatelcm.iters", 600}, {"animatelcm.lr", 1e-4},
            {"sfv.iters", 600}, {"fvd.num_real", 256}, {"fvd.num_fake", 256}, {"fvd.frames", 8},
            {"fvd.input_size", 64},
            {"fvd.bootstrap", 200}}},
      {"svd",
       Json{{"device", "cuda"}, {"precision", "bf16"}, {"disc_cost.dtype", "fp16"}, {"data.source", "openvid"}, {"data.frames", 14},
            {"data.height", 576}, {"data.width", 1024}, {"sample.num_samples", 1000}}},
  };
  return p;
}

const std::map<std::string, std::string>& preset_docs() {
  static const std::map<std::string, std::string> d = {
      {"tiny", "seconds-scale models and data for tests and CI (4 frames, 32x32)"},
      {"small", "the embedded default: small models trained here on synthetic clips, 2-core CPU (8 frames, 64x64)"},
      {"svd", "paper scale: real Stable Video Diffusion, DINOv2 and I3D checkpoints on a GPU (14 frames, 1024x576)"},
  };
  return d;
}

// Splits "a.b.c" into a JSON pointer into the nested document.
Json::json_pointer pointer(std::string_view path) {
  std::string p;
  for (const auto& part : split(path, '.')) p += "/" + part;
  return Json::json_pointer(p);
}

// Keys close to a mistyped one, by full path or by last segment ("stepz" -> sample.steps).
std::string suggest_keys(std::string_view key);

// A value as the user wrote it, for error messages (bytes that are not UTF-8 shown as \xNN).
std::string show(const Json& v) {
  return v.is_string() ? escape_non_utf8(v.get<std::string>()) : v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Checks one scalar against the spec; returns the normalised JSON value.
Json check_scalar(const KeySpec& k, KeyType scalar_type, const Json& v, std::string_view shown) {
  auto fail_type = [&]() -> Json {
    throw UsageError(fmt::format("config key '{}': expected {}, got '{}'", k.path, key_type_name(k.type), shown));
  };
  Json out;
  switch (scalar_type) {
    case T::Int:
      if (v.is_number_integer() || v.is_number_unsigned()) {
        out = v.get<long long>();
      } else if (v.is_number_float() && std::nearbyint(v.get<double>()) == v.get<double>() &&
                 std::abs(v.get<double>()) < 9e15) {
        out = static_cast<long long>(v.get<double>());
      } else {
        return fail_type();
      }
      break;
    case T::Float:
      if (!v.is_number()) return fail_type();
      out = v.get<double>();
      if (!std::isfinite(out.get<double>())) return fail_type();
      break;
    case T::Bool:
      if (!v.is_boolean()) return fail_type();
      out = v;
      break;
    case T::String:
      if (!v.is_string()) return fail_type();
      // Every value is hashed and written as JSON: bytes that are not UTF-8 would fail there, later.
      if (!is_valid_utf8(v.get<std::string>()))
        throw UsageError(fmt::format("config key '{}': the value is not valid UTF-8: '{}'", k.path, shown));
      out = v;
      if (!k.choices.empty() &&
          std::find(k.choices.begin(), k.choices.end(), v.get<std::string>()) == k.choices.end()) {
        throw UsageError(fmt::format("config key '{}': expected one of {}, got '{}'{}", k.path, join(k.choices, ", "),
                                     shown, did_you_mean(v.get<std::string>(), k.choices)));
      }
      if (!k.pattern.empty() && !std::regex_match(v.get<std::string>(), std::regex(k.pattern)))
        throw UsageError(fmt::format("config key '{}': expected {}, got '{}'", k.path,
                                     k.pattern_doc.empty() ? k.pattern : k.pattern_doc, shown));
      break;
    default:
      return fail_type();
  }
  if (out.is_number()) {
    const double d = out.get<double>();
    if (k.min && d < *k.min)
      throw UsageError(fmt::format("config key '{}': must be >= {}, got {}", k.path, *k.min, shown));
    if (k.max && d > *k.max)
      throw UsageError(fmt::format("config key '{}': must be <= {}, got {}", k.path, *k.max, shown));
  }
  return out;
}

KeyType element_type(KeyType t) {
  switch (t) {
    case T::IntList: return T::Int;
    case T::FloatList: return T::Float;
    case T::StringList: return T::String;
    default: return t;
  }
}

bool is_list(KeyType t) { return t == T::IntList || t == T::FloatList || t == T::StringList; }

Json check_value(const KeySpec& k, const Json& v) {
  if (!is_list(k.type)) return check_scalar(k, k.type, v, show(v));
  if (!v.is_array())
    throw UsageError(fmt::format("config key '{}': expected {}, got '{}'", k.path, key_type_name(k.type), show(v)));
  Json out = Json::array();
  for (const auto& e : v) out.push_back(check_scalar(k, element_type(k.type), e, show(e)));
  return out;
}

// Text form of a value (command line) to JSON of the spec's type.
Json parse_text(const KeySpec& k, KeyType t, std::string_view text) {
  auto fail = [&]() -> Json {
    throw UsageError(fmt::format("config key '{}': expected {}, got '{}'", k.path, key_type_name(k.type), text));
  };
  switch (t) {
    case T::Int: {
      if (auto v = parse_int(text)) return *v;
      // "1e3" for an integer key is accepted when it is integral.
      if (auto d = parse_double(text); d && std::nearbyint(*d) == *d && std::abs(*d) < 9e15)
        return static_cast<long long>(*d);
      return fail();
    }
    case T::Float: {
      if (auto v = parse_double(text)) return *v;
      return fail();
    }
    case T::Bool: {
      if (auto v = parse_bool(text)) return *v;
      return fail();
    }
    case T::String:
      return std::string(text);
    default: {
      Json arr = Json::array();
      const std::string t2 = trim(text);
      if (t2.empty() || t2 == "[]") return arr;
      for (const auto& part : split(t2, ',')) arr.push_back(parse_text(k, element_type(t), trim(part)));
      return arr;
    }
  }
}

void flatten(const Json& j, const std::string& prefix, std::vector<std::pair<std::string, Json>>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object() && !find_key(path)) {
      flatten(*it, path, out);
    } else {
      out.emplace_back(path, *it);
    }
  }
}

std::string suggest_keys(std::string_view key) {
  std::vector<std::pair<std::size_t, std::string>> scored;
  const std::size_t threshold = std::max<std::size_t>(2, key.size() / 3);
  for (const auto& k : config_schema()) {
    const std::string leaf = k.path.substr(k.path.rfind('.') + 1);
    const std::size_t d = std::min(edit_distance(key, k.path), edit_distance(key, leaf));
    if (d <= threshold) scored.emplace_back(d, k.path);
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> best;
  for (std::size_t i = 0; i < scored.size() && i < 3; ++i) best.push_back(scored[i].second);
  if (best.empty()) return "";
  return " (did you mean " + join(best, " or ") + "?)";
}

}  // namespace

const std::vector<KeySpec>& config_schema() {
  static const std::vector<KeySpec> s = build_schema();
  return s;
}

const KeySpec* find_key(std::string_view path) {
  for (const auto& k : config_schema())
    if (k.path == path) return &k;
  return nullptr;
}

std::vector<std::string> preset_names() {
  std::vector<std::string> v;
  for (const auto& [name, _] : presets()) v.push_back(name);
  return v;
}

std::string preset_description(std::string_view name) {
  auto it = preset_docs().find(std::string(name));
  return it == preset_docs().end() ? "" : it->second;
}

std::string resolve_key(std::string_view key) {
  if (find_key(key)) return std::string(key);
  std::vector<std::string> matches;
  for (const auto& k : config_schema()) {
    const std::string& p = k.path;
    if (p.size() > key.size() && p.compare(p.size() - key.size(), key.size(), key) == 0 &&
        p[p.size() - key.size() - 1] == '.')
      matches.push_back(p);
  }
  if (matches.size() == 1) return matches.front();
  if (matches.size() > 1)
    throw UsageError(fmt::format("config key '{}' is ambiguous: it could be {}", key, join(matches, ", ")));
  throw UsageError(fmt::format("unknown config key '{}'{}; `osvbench info --config-keys` lists them all", key,
                               suggest_keys(key)));
}

Config Config::resolve(const std::string& preset, const std::vector<std::string>& overrides,
                       const std::optional<std::filesystem::path>& file, const std::vector<std::string>& defaults) {
  auto it = presets().find(preset);
  if (it == presets().end())
    throw UsageError(fmt::format("unknown preset '{}': expected one of {}{}", preset, join(preset_names(), ", "),
                                 did_you_mean(preset, preset_names())));
  Config c;
  for (const auto& k : config_schema()) c.json_[pointer(k.path)] = k.default_value;
  for (const auto& [path, value] : it->second.items()) c.set_json(path, value);
  c.json_[pointer("preset")] = preset;
  for (const auto& d : defaults) c.apply_override(d);
  if (file) {
    Json j;
    const std::string text = read_file(*file);
    if (json_nesting_depth(text) > kMaxConfigDepth)
      throw UsageError(fmt::format("config file '{}' nests deeper than {} levels", file->string(), kMaxConfigDepth));
    try {
      j = Json::parse(text);
    } catch (const Json::exception& e) {  // parse errors and number overflow (out_of_range 406)
      throw UsageError(fmt::format("config file '{}' is not valid JSON: {}", file->string(), e.what()));
    }
    if (!j.is_object()) throw UsageError(fmt::format("config file '{}' must hold a JSON object", file->string()));
    std::vector<std::pair<std::string, Json>> flat;
    flatten(j, "", flat);
    for (const auto& [path, value] : flat) {
      if (path == "preset") continue;  // the preset is chosen on the command line
      try {
        c.set_json(resolve_key(path), value);
      } catch (const UsageError& e) {
        throw UsageError(fmt::format("config file '{}': {}", file->string(), e.what()));
      }
    }
  }
  for (const auto& o : overrides) c.apply_override(o);
  return c;
}

Config Config::from_json(const Json& j) {
  if (!j.is_object()) throw UsageError("a config must be a JSON object");
  std::vector<std::pair<std::string, Json>> flat;
  flatten(j, "", flat);
  std::string preset = "small";
  for (const auto& [path, value] : flat)
    if (path == "preset" && value.is_string()) preset = value.get<std::string>();
  Config c = resolve(preset, {});
  for (const auto& [path, value] : flat) {
    if (!find_key(path)) throw UsageError(fmt::format("unknown config key '{}'{}", path, suggest_keys(path)));
    c.set_json(path, value);
  }
  return c;
}

void Config::apply_override(std::string_view assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0)
    throw UsageError(fmt::format("override '{}' is not of the form key=value", assignment));
  const std::string key = trim(assignment.substr(0, eq));
  const std::string_view value = assignment.substr(eq + 1);
  set_text(resolve_key(key), value);
}

void Config::set_text(std::string_view path, std::string_view value) {
  const KeySpec* k = find_key(path);
  if (!k) throw UsageError(fmt::format("unknown config key '{}'{}", path, suggest_keys(path)));
  set_json(path, parse_text(*k, k->type, value));
}

void Config::set_json(std::string_view path, const Json& value) {
  const KeySpec* k = find_key(path);
  if (!k) throw UsageError(fmt::format("unknown config key '{}'{}", path, suggest_keys(path)));
  json_[pointer(path)] = check_value(*k, value);
}

namespace {

struct ReadLogState {
  std::mutex mu;
  std::vector<std::set<std::string>*> live;  // every live log's set (logs may nest: each records)
};

ReadLogState& read_log_state() {
  static ReadLogState s;
  return s;
}

void record_read(std::string_view path) {
  auto& st = read_log_state();
  std::lock_guard<std::mutex> lock(st.mu);
  for (auto* keys : st.live) keys->emplace(path);
}

void collect_object_keys(const Json& j, std::set<std::string>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      out.insert(k);
      collect_object_keys(v, out);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) collect_object_keys(v, out);
  }
}

}  // namespace

struct ConfigReadLog::Impl {
  std::set<std::string> keys;
};

ConfigReadLog::ConfigReadLog() : impl_(std::make_unique<Impl>()) {
  auto& st = read_log_state();
  std::lock_guard<std::mutex> lock(st.mu);
  st.live.push_back(&impl_->keys);
}

ConfigReadLog::~ConfigReadLog() {
  auto& st = read_log_state();
  std::lock_guard<std::mutex> lock(st.mu);
  st.live.erase(std::remove(st.live.begin(), st.live.end(), &impl_->keys), st.live.end());
}

std::set<std::string> ConfigReadLog::keys() const {
  auto& st = read_log_state();
  std::lock_guard<std::mutex> lock(st.mu);
  return impl_->keys;
}

std::set<std::string> result_keys(const std::set<std::string>& keys) {
  std::set<std::string> out;
  for (const auto& k : keys)
    if (const auto* spec = find_key(k); spec && spec->hashed && k != "preset") out.insert(k);
  return out;
}

std::vector<std::string> undeclared_reads(const std::set<std::string>& read, const Json& declared,
                                          const std::vector<std::string>& covered) {
  std::set<std::string> names;
  collect_object_keys(declared, names);
  std::vector<std::string> out;
  for (const auto& r : result_keys(read)) {
    if (names.count(r)) continue;
    if (std::any_of(covered.begin(), covered.end(), [&](const std::string& p) { return r.rfind(p, 0) == 0; }))
      continue;
    out.push_back(r);
  }
  return out;
}

const Json& Config::at(std::string_view path) const {
  record_read(path);
  const auto p = pointer(path);
  if (!json_.contains(p)) throw UsageError(fmt::format("unknown config key '{}'", path));
  return json_.at(p);
}

std::string Config::preset() const { return at("preset").get<std::string>(); }

std::string Config::canonical() const {
  Json hashed = Json::object();
  for (const auto& k : config_schema())
    if (k.hashed) hashed[pointer(k.path)] = json_.at(pointer(k.path));  // not a stage's read
  // nlohmann::json objects are ordered maps: dump() is key-order independent.
  return hashed.dump();
}

std::string Config::hash() const { return sha256_hex("osvbench-config-v1\n" + canonical()); }

}  // namespace osv
