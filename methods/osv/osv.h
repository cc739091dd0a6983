// OSV (SPEC §3): the student is the teacher's UNet with LoRA (base frozen). Stage 1, Latent GAN
// Pretraining, trains it against real latents with the latent DINOv2 discriminator; stage 2,
// Adversarial Consistency Distillation, distils the teacher's m-step CFG Euler solution through an
// EMA target, with the discriminator on teacher-solved targets. Samplers: k-step consistency and
// the Time Travel Sampler. Each stage is a cached, resumable run of the shared training loop:
//   <run.root>/osv-stage1-<hash>/   (hash of everything stage 1 depends on)
//   <run.root>/osv-stage2-<hash>/   (stage 1's hash + stage 2's knobs)
// each ending in lora.safetensors (PEFT/diffusers keys, "unet." prefix) + disc.safetensors.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "methods/api/method.h"
#include "models/dinov2.h"

namespace osv {
class Config;
class MethodRegistry;
class SvdPipeline;
class TrainTask;
class LatentDiscriminator;
struct EncodedClips;

// The embedded discriminator backbone (methods/osv/embedded_backbone.cpp): DINOv2 at a small
// config, pretrained by masked image modelling on synthetic frames of its own seed (an objective
// and data distinct from the FVD detector's), written as a transformers folder under
// <run.root>/assets/ with pretrain.json (loss, cost, a linear probe against the random
// initialisation). Returns its folder; a finished folder is reused.
std::filesystem::path ensure_embedded_backbone(const Config& config, bool force = false);
// That backbone's config for the config's embedded preset (image size = disc.input_size).
Dinov2Config embedded_backbone_config(const Config& config);
// The embedded backbone's pretraining recipe version (its asset key's "objective"): part of OSV's
// stage-1 key and of its MethodInfo::recipe, so a changed pretraining retrains and re-measures OSV.
const char* embedded_backbone_version();
// Accuracy on (test_f, test_y) of a ridge regression onto one-hot labels fitted on (train_f,
// train_y), features standardised by the training set's statistics. f: [n, D] double, y: [n] int64.
double linear_probe_accuracy(const torch::Tensor& train_f, const torch::Tensor& train_y, const torch::Tensor& test_f,
                             const torch::Tensor& test_y, int64_t classes, double ridge);

// Trains what is missing (stage 1, then stage 2, as the config enables them) and returns the
// final adapter file. `stage` = "1", "2" or "all" stops after that stage.
std::filesystem::path train_osv(const Config& config, std::shared_ptr<SvdPipeline> pipe, const std::string& stage = "all");

// The student's trained parameters: its LoRA adapters, plus in stage 2 the parameters whose
// names match `extra_patterns` (ECMAScript regexes; osv.extra_trainable).
std::vector<std::string> osv_trainable_names(torch::nn::Module& student, int stage,
                                             const std::vector<std::string>& extra_patterns);

// One OSV stage's training step on `data` (1 = LGP, 2 = ACD; a fresh LoRA student from the pipeline's
// UNet, the given discriminator; the device-placement tests run it without a runs folder).
std::unique_ptr<TrainTask> make_osv_stage_task(int stage, const Config& config, SvdPipeline& pipe,
                                               const EncodedClips& data, LatentDiscriminator disc);

void register_osv(MethodRegistry& registry);
}  // namespace osv
