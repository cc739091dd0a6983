#include "harness/regress.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/atomic_file.h"
#include "common/log.h"
#include "metrics/fvd/frechet.h"

namespace osv {

// A cached row that can be trusted: row.json parses and its FVD is a finite number; else null
// (the row is measured again, with a warning saying why).
nlohmann::json read_cached_row(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) return nullptr;
  try {
    auto row = nlohmann::json::parse(read_file(file));
    if (!row.is_object() || !row.contains("fvd") || !row["fvd"].is_number() ||
        !std::isfinite(row["fvd"].get<double>())) {
      log::warn("{}: cached row has no finite FVD; measuring it again", file.string());
    } else if (row.contains("ci") &&
               (!row["ci"].is_object() || row["ci"].value("interval", std::string()) != kFvdIntervalMethod)) {
      // A CI by an earlier method (the plain bootstrap percentile interval, which need not contain
      // the estimate) is not reported: the row is measured again.
      log::info("{}: cached row's CI is not the current interval ({}); measuring it again", file.string(),
                kFvdIntervalMethod);
    } else {
      return row;
    }
  } catch (const std::exception& e) {
    log::warn("{}: cached row does not parse ({}); measuring it again", file.string(), e.what());
  }
  return nullptr;
}

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
      s += fmt::format("| {} | {:.2f} | {:.2f} | - | - | DETECTOR CHANGED ({}): not comparable (other detector bits: "
                       "another recipe, or a machine that computes other bits) |\n",
                       r.row, r.base_fvd, r.new_fvd, r.detector_changed);
      continue;
    }
    s += fmt::format("| {} | {:.2f} | {:.2f} | {:+.2f} | {:.2f} | {} |\n", r.row, r.base_fvd, r.new_fvd,
                     r.new_fvd - r.base_fvd, r.allowed, r.regressed ? "REGRESSED" : "ok");
  }
  return s;
}

std::vector<AssetVerdict> judge_assets(const nlohmann::json& baseline_assets, const nlohmann::json& new_assets) {
  std::vector<AssetVerdict> out;
  auto find = [](const nlohmann::json& list, const std::string& name) -> std::string {
    if (!list.is_array()) return "";
    for (const auto& a : list)
      if (a.value("asset", "") == name) return a.value("sha256", "");
    return "";
  };
  for (const auto& a : new_assets) {
    AssetVerdict v;
    v.asset = a.value("asset", "");
    v.new_sha256 = a.value("sha256", "");
    v.base_sha256 = find(baseline_assets, v.asset);
    out.push_back(v);
  }
  return out;
}

const AssetVerdict* first_differing_asset(const std::vector<AssetVerdict>& v) {
  for (const auto& a : v)
    if (a.differs()) return &a;
  return nullptr;
}

std::string asset_table(const std::vector<AssetVerdict>& v) {
  std::string s = "| asset | baseline sha256 | this run's sha256 | bits |\n|---|---|---|---|\n";
  auto short_sha = [](const std::string& h) { return h.empty() ? std::string("-") : h.substr(0, 16); };
  for (const auto& a : v)
    s += fmt::format("| {} | {} | {} | {} |\n", a.asset, short_sha(a.base_sha256), short_sha(a.new_sha256),
                     a.base_sha256.empty() ? "not in baseline" : (a.differs() ? "DIFFER" : "same"));
  return s;
}

bool any_regressed(const std::vector<RegressVerdict>& v) {
  return std::any_of(v.begin(), v.end(), [](const RegressVerdict& r) { return r.regressed; });
}

}  // namespace osv
