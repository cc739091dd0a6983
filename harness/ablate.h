// `osvbench ablate`: the paper's tables as data (harness/tables/table_<id>.json, compiled in):
// each row is a method/sampler/steps/cfg plus config overrides and the paper's FVD; one row is the
// table's reference. The summary puts the measured FVD (with CI) next to the paper's and says
// whether each row's effect against the reference has the paper's direction and lies outside
// the statistical noise (the row's FVD is outside the reference's CI and vice versa).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/ablation_summary.h"

namespace osv {

// (name, JSON text) of every table file, e.g. ("table_2e", "{...}").
const std::vector<std::pair<std::string, std::string>>& embedded_tables();
// Table ids in the paper's order: 1, 2a ... 2h, then the figures fig1, fig3 (a cost table), fig5.
std::vector<std::string> table_ids();
// The parsed table; throws UsageError for an unknown id.
nlohmann::json load_table(const std::string& id);

// A curve table (kind "curve": fig1, fig5) as plain rows: every series at every point, the point
// being a fraction of `scale` (the configured value of the table's scale_key), written to the
// series' x_key. Row labels are "<series> @ <n>"; each row's reference is the reference series at
// the same n, and its expected direction is the series' paper_vs_reference. Other tables are
// returned as they are.
nlohmann::json expand_table(const nlohmann::json& table, long long scale);

}  // namespace osv
