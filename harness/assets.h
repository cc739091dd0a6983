// The embedded default's assets, one home: each built with the project's own code, content-addressed
// under <run.root>/assets and reused when present (a lock per asset kind: a second process waits,
// then finds it built):
//   data      the synthetic split as mp4 files with labels (train/ and test/)
//   detector  the embedded FVD detector (I3D trained on synthetic factors; metrics/fvd/embedded_detector.h)
//   vae, image_encoder, teacher   the embedded SVD folder (methods/svd/embedded.h)
//   backbone  OSV's embedded DINOv2 discriminator backbone (seeded random weights, not trained;
//             methods/osv/osv.h: only OSV's discriminator reads it)
// and what every sub-command asks of them: the SVD folder, the configured FVD detector and the
// sha256 of its weights.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace osv {

class Config;
class FvdDetector;

// Builds (or finds cached) the requested assets, all of them when `assets` is empty.
void prepare_assets(const Config& config, const std::vector<std::string>& assets, bool force);

// model.path, or the embedded SVD folder — built first (data, VAE, image encoder, teacher) when
// missing, through the same cache as `prepare`.
std::filesystem::path ensure_svd_folder(const Config& config);

// The configured detector (fvd.detector, fvd.weights or the embedded default built on demand).
std::unique_ptr<FvdDetector> make_detector(const Config& config);

// The embedded detector's weights for this config, built first if needed (or again with force).
// `data_parallel`: every rank of a process group calls this together (prepare), so the build may
// split its batches across them; elsewhere a rank may build it alone, whole.
std::string embedded_detector_path(const Config& config, bool force = false, bool data_parallel = false);

// sha256 of the weights the FVD detector of `config` loads (fvd.weights, or the embedded
// detector's file, built if missing); computed once per file and process.
std::string detector_weights_sha256(const Config& config);

}  // namespace osv
