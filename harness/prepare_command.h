// `osvbench prepare`: builds the embedded default's assets from scratch with the project's own
// code, each content-addressed under <run.root>/assets and reused when present:
//   data      the synthetic split as mp4 files with labels (train/ and test/)
//   detector  the embedded FVD detector (I3D trained on synthetic factors)
//   vae, image_encoder, teacher   the embedded SVD folder (methods/teacher/embedded.h)
//   backbone  OSV's embedded DINOv2 discriminator backbone (seeded random weights, not trained)
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace osv {

class Config;

// Builds (or finds cached) the requested assets, all of them when `assets` is empty.
void prepare_command(const Config& config, const std::vector<std::string>& assets, bool force);

// model.path, or the embedded SVD folder — built first (data, VAE, image encoder, teacher) when
// missing, through the same cache as `prepare`.
std::filesystem::path ensure_svd_folder(const Config& config);

}  // namespace osv
