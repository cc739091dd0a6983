#include "harness/regress.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace osv {

std::string regress_row_key(const nlohmann::json& r) {
  const auto& cfg = r.at("cfg");
  return fmt::format("{} {} {} cfg {}", r.at("method").get<std::string>(), r.at("sampler").get<std::string>(),
                     r.at("steps").get<int>(), cfg.is_string() ? cfg.get<std::string>() : fmt::format("{}", cfg.get<double>()));
}

double fvd_standard_error(const nlohmann::json& r) {
  if (!r.contains("ci")) return 0.0;
  return (r["ci"]["high"].get<double>() - r["ci"]["low"].get<double>()) / (2.0 * 1.96);
}

std::string row_detector_sha256(const nlohmann::json& r) {
  if (r.contains("detector_sha256")) return r["detector_sha256"].get<std::string>();
  if (r.contains("detector") && r["detector"].is_object()) return r["detector"].value("weights_sha256", "");
  return "";
}

std::vector<RegressVerdict> judge_regression(const nlohmann::json& baseline_rows, const nlohmann::json& new_rows,
                                             const RegressOptions& o) {
  std::vector<RegressVerdict> out;
  for (const auto& b : baseline_rows) {
    RegressVerdict v;
    v.row = regress_row_key(b);
    v.base_fvd = b.at("fvd").get<double>();
    const auto it = std::find_if(new_rows.begin(), new_rows.end(),
                                 [&](const nlohmann::json& n) { return regress_row_key(n) == v.row; });
    if (it == new_rows.end()) {
      v.missing = v.regressed = true;
      out.push_back(v);
      continue;
    }
    v.new_fvd = it->at("fvd").get<double>();
    const auto db = row_detector_sha256(b), dn = row_detector_sha256(*it);
    if (!db.empty() && !dn.empty() && db != dn) {
      v.detector_changed = db.substr(0, 12) + " -> " + dn.substr(0, 12);
      v.regressed = true;
      out.push_back(v);
      continue;
    }
    const double se_b = fvd_standard_error(b), se_n = fvd_standard_error(*it);
    v.allowed = std::max(o.rel_floor * std::abs(v.base_fvd), o.z * std::sqrt(se_b * se_b + se_n * se_n));
    v.regressed = !(v.new_fvd - v.base_fvd <= v.allowed);  // NaN counts as a regression
    out.push_back(v);
  }
  return out;
}

std::string regress_table(const std::vector<RegressVerdict>& v) {
  std::string s = "| row | baseline FVD | new FVD | change | allowed | verdict |\n|---|---|---|---|---|---|\n";
  for (const auto& r : v) {
    if (r.missing) {
      s += fmt::format("| {} | {:.2f} | - | - | - | MISSING |\n", r.row, r.base_fvd);
      continue;
    }
    if (!r.detector_changed.empty()) {
      s += fmt::format("| {} | {:.2f} | {:.2f} | - | - | DETECTOR CHANGED ({}): not comparable, refresh the baseline "
                       "with --update |\n",
                       r.row, r.base_fvd, r.new_fvd, r.detector_changed);
      continue;
    }
    s += fmt::format("| {} | {:.2f} | {:.2f} | {:+.2f} | {:.2f} | {} |\n", r.row, r.base_fvd, r.new_fvd,
                     r.new_fvd - r.base_fvd, r.allowed, r.regressed ? "REGRESSED" : "ok");
  }
  return s;
}

bool any_regressed(const std::vector<RegressVerdict>& v) {
  return std::any_of(v.begin(), v.end(), [](const RegressVerdict& r) { return r.regressed; });
}

}  // namespace osv
