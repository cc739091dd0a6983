// `osvbench fvd merge` and `osvbench fvd compute` on statistics files (FrechetStats safetensors).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace osv {

class Config;
struct FvdProtocol;

// Videos of a folder (mp4/mkv/webm/... files; broken ones skipped and reported) through the
// configured detector into a statistics file, at their native fps and resolution (the detector's
// preprocessing resizes), the first fvd.frames frames — or as `protocol` says (metrics/fvd/protocol.h).
void fvd_stats_command(const Config& config, const std::string& videos, const std::string& output,
                       const FvdProtocol* protocol = nullptr, bool allow_fewer = false);

// Merges shards exactly; refuses statistics from different detectors/preprocessing.
void fvd_merge_command(const std::vector<std::string>& inputs, const std::string& output);

// Prints FVD, its bootstrap interval, N, detector, preprocessing and normaliser; writes the
// same (plus provenance) as JSON to `out_json` when given. A folder is turned into statistics
// with the configured detector first, as fvd_stats_command does. With a protocol, a set with fewer
// videos than it takes is an InputError unless `allow_fewer`; the JSON states the protocol.
void fvd_compute_command(const Config& config, const std::string& real, const std::string& fake,
                         const std::string& out_json, bool fd_inf, const FvdProtocol* protocol = nullptr,
                         bool allow_fewer = false);

}  // namespace osv
