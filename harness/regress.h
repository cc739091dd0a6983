// The FVD regression gate (`osvbench regress`): a baseline file holds the rows of a regression
// run (method, sampler, steps, cfg with FVD and its bootstrap CI) and the preset + overrides that
// produced them; the gate reruns those rows and compares.
//
// A row regresses when its FVD rose by more than the statistical tolerance
//     allowed = max(rel_floor * FVD_base, z * sqrt(se_base^2 + se_new^2)),
// where se = (CI high - CI low) / (2 * 1.96) is the bootstrap standard error of each FVD (both
// sets are scored by the same detector against the same real statistics). Improvements never
// fail; a baseline row that is missing from the new run fails, and so does a row measured with
// other detector weights than its baseline (FVDs from different detectors are not comparable:
// refresh the baseline with --update).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace osv {

struct RegressOptions {
  double z = 1.96;
  double rel_floor = 0.02;
};

struct RegressVerdict {
  std::string row;  // "method sampler steps cfg"
  double base_fvd = 0, new_fvd = 0, allowed = 0;
  bool missing = false, regressed = false;
  std::string detector_changed;  // "<baseline sha> -> <new sha>" (first 12 hex digits) when they differ
};

// A cached row (<runs>/rows/<key>/row.json) that can be trusted: it parses, its FVD is a finite
// number and its CI (if any) is the current interval method (ci.interval == kFvdIntervalMethod);
// else null, with a message saying why (the caller measures the row again).
nlohmann::json read_cached_row(const std::filesystem::path& file);

std::string regress_row_key(const nlohmann::json& row);
double fvd_standard_error(const nlohmann::json& row);  // 0 without a CI
// The sha256 of the detector weights behind a row: a baseline row's "detector_sha256", or a
// measured row's detector.weights_sha256; empty when the row does not say.
std::string row_detector_sha256(const nlohmann::json& row);
std::vector<RegressVerdict> judge_regression(const nlohmann::json& baseline_rows, const nlohmann::json& new_rows,
                                             const RegressOptions& o);
// The embedded assets behind a regression run, in the order they are built (each depends on the
// ones before it): data, detector, vae, image_encoder, teacher, then each trained method's weights.
// Both lists are arrays of {"asset", "sha256"}.
struct AssetVerdict {
  std::string asset;
  std::string base_sha256, new_sha256;  // empty when one side does not record the asset
  bool differs() const { return !base_sha256.empty() && !new_sha256.empty() && base_sha256 != new_sha256; }
};
std::vector<AssetVerdict> judge_assets(const nlohmann::json& baseline_assets, const nlohmann::json& new_assets);
// The first asset whose bits differ, or nullptr.
const AssetVerdict* first_differing_asset(const std::vector<AssetVerdict>& v);
std::string asset_table(const std::vector<AssetVerdict>& v);

// The diff table (markdown) and whether any row failed.
std::string regress_table(const std::vector<RegressVerdict>& v);
bool any_regressed(const std::vector<RegressVerdict>& v);

}  // namespace osv
