// AnimateLCM (SPEC §4): consistency distillation of the teacher with a one-step Euler solver
// (CFG ramp in the teacher) between adjacent points of a 40-point Karras grid, an EMA target
// (0.95), pseudo-Huber distance (c = 0.001) weighted by λ(σ). Trained parameters
// (animatelcm.strategy): `whole` UNet as AnimateLCM-SVD, `decoupled` (spatial layers for the first
// half of the iterations, then temporal), or `lora` (osv.lora_rank/alpha). Sampling: k-step
// consistency from the grid's k-step sigmas, no CFG.
//   <run.root>/animatelcm-<hash>/   checkpoint.safetensors, metrics.jsonl, unet.safetensors | lora.safetensors
#pragma once

#include <filesystem>
#include <memory>
#include <string>

namespace osv {
class Config;
class MethodRegistry;
class SvdPipeline;
class TrainTask;
struct EncodedClips;

// Trains AnimateLCM unless its run is cached; returns its weights (unet.safetensors for
// whole/decoupled, lora.safetensors for lora).
std::filesystem::path train_animatelcm(const Config& config, std::shared_ptr<SvdPipeline> pipe);

// One training step of AnimateLCM on `data` (a fresh student from the pipeline's UNet; the
// device-placement tests and benchmarks run it without a runs folder).
std::unique_ptr<TrainTask> make_animatelcm_task(const Config& config, SvdPipeline& pipe, const EncodedClips& data);

// Temporal layers of the SVD UNet (decoupled strategy's second phase): names matching this.
bool is_temporal_parameter(const std::string& name);

void register_animatelcm(MethodRegistry& registry);
}  // namespace osv
