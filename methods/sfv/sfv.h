// SF-V (SPEC §4): the generator is the teacher's whole UNet, trained for one-step generation from
// the top three noise levels of a 4-point Karras grid (its eq. 5: sigma_min left out) against the
// UNet-encoder discriminator (frozen teacher down blocks + conditioned heads) on noised latents:
// hinge loss for D with R1 on real inputs, a linear -D adversarial term for G (its eq. 8), a 0.1-
// weighted pseudo-Huber reconstruction over the whole sample (eq. 9) and an EMA generator. The paper's optimiser was SM3; this
// uses Adam(0.5, 0.999) with separate G/D rates (recorded in every result's provenance).
//   <run.root>/sfv-<hash>/   checkpoint.safetensors, metrics.jsonl, unet.safetensors (EMA generator), disc.safetensors
#pragma once

#include <filesystem>
#include <memory>
#include <cstdint>
#include <vector>

namespace osv {
class Config;
class MethodRegistry;
class SvdPipeline;
class TrainTask;
struct EncodedClips;

// The generator's noise levels, descending: sfv.gen_grid Karras points, without sigma_min when
// sfv.gen_levels = top (SF-V: {700, 70.5, 2.27} on 4 points). Sampling uses these levels too.
std::vector<double> sfv_generator_sigmas(const Config& c);
// The k sampling sigmas among those levels, spread as the consistency samplers spread theirs:
// levels[floor(j n / k)], j = 0..k-1. k above the number of levels is refused.
std::vector<double> sfv_sampling_sigmas(const std::vector<double>& levels, int64_t k);

// Trains SF-V unless its run is cached; returns the generator's weights file.
std::filesystem::path train_sfv(const Config& config, std::shared_ptr<SvdPipeline> pipe);

// One training step of SF-V on `data` (a fresh generator and discriminator from the pipeline's
// UNet; the device-placement tests run it without a runs folder).
std::unique_ptr<TrainTask> make_sfv_task(const Config& config, SvdPipeline& pipe, const EncodedClips& data);

void register_sfv(MethodRegistry& registry);
}  // namespace osv
