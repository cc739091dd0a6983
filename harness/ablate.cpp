#include "harness/ablate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/errors.h"

namespace osv {

std::vector<std::string> table_ids() {
  // Every embedded harness/tables/table_<id>.json, in name order ("1", "2a".."2h", "fidelity", "fig1"...).
  std::vector<std::string> ids;
  for (const auto& [name, text] : embedded_tables()) ids.push_back(name.substr(std::string("table_").size()));
  std::sort(ids.begin(), ids.end());
  return ids;
}

nlohmann::json load_table(const std::string& id) {
  for (const auto& [name, text] : embedded_tables())
    if (name == "table_" + id) return nlohmann::json::parse(text);
  throw UsageError(fmt::format("no table '{}'", id));
}

nlohmann::json expand_table(const nlohmann::json& table, long long scale) {
  if (table.value("kind", "rows") != "curve") return table;
  nlohmann::json t = table;
  t["rows"] = nlohmann::json::array();
  const auto ref_series = table.at("reference").get<std::string>();
  for (const auto& p : table.at("points")) {
    const auto n = std::max<long long>(1, std::llround(p.get<double>() * static_cast<double>(scale)));
    for (const auto& s : table.at("series")) {
      nlohmann::json r = s;
      r.erase("x_key");
      r.erase("paper_vs_reference");
      const auto series = s.at("label").get<std::string>();
      r["series"] = series;
      r["label"] = fmt::format("{} @ {}", series, n);
      r["x"] = n;
      r["overrides"].push_back(fmt::format("{}={}", s.at("x_key").get<std::string>(), n));
      r["reference"] = fmt::format("{} @ {}", ref_series, n);
      r["paper_direction"] = series == ref_series ? "-" : s.value("paper_vs_reference", "-");
      r["paper_fvd"] = nullptr;
      t["rows"].push_back(r);
    }
  }
  return t;
}

}  // namespace osv
