// `osvbench fvd merge` and `osvbench fvd compute` on statistics files (FrechetStats safetensors).
#pragma once

#include <string>
#include <vector>

namespace osv {

class Config;

// Merges shards exactly; refuses statistics from different detectors/preprocessing.
void fvd_merge_command(const std::vector<std::string>& inputs, const std::string& output);

// Prints FVD, its bootstrap interval, N, detector, preprocessing and normaliser; writes the
// same (plus provenance) as JSON to `out_json` when given. Folders of videos need the dataset
// readers and are refused with osv::NotImplementedError until they land.
void fvd_compute_command(const Config& config, const std::string& real, const std::string& fake,
                         const std::string& out_json, bool fd_inf);

}  // namespace osv
