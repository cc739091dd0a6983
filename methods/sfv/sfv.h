// SF-V (SPEC §4): the generator is the teacher's whole UNet, trained for one-step generation from
// noise levels of a 4-point Karras grid against the UNet-encoder discriminator (frozen teacher
// down blocks + conditioned heads) on noised latents, with hinge loss, R1 on real inputs, a 0.1-
// weighted pseudo-Huber reconstruction and an EMA generator. The paper's optimiser was SM3; this
// uses Adam(0.5, 0.999) with separate G/D rates (recorded in every result's provenance).
//   <run.root>/sfv-<hash>/   checkpoint.pt, metrics.jsonl, unet.safetensors (EMA generator), disc.safetensors
#pragma once

#include <filesystem>
#include <memory>

namespace osv {
class Config;
class MethodRegistry;
class SvdPipeline;

// Trains SF-V unless its run is cached; returns the generator's weights file.
std::filesystem::path train_sfv(const Config& config, std::shared_ptr<SvdPipeline> pipe);

void register_sfv(MethodRegistry& registry);
}  // namespace osv
