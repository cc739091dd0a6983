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

struct AblateLine {
  std::string label;
  std::optional<long long> x;         // curve tables: the iterations of the row's point
  std::optional<double> train_s;      // curve tables: training seconds of the row's run (steps only)
  std::optional<double> fvd, ci_low, ci_high;  // measured (absent when the row could not run)
  std::optional<double> paper;
  std::string paper_direction, measured_direction;  // vs the reference: "better", "worse", "same" or "-"
  std::string agrees;                               // "yes", "no" or "-" (reference, or no measurement)
  std::string significant;                          // "yes", "no" or "-"
  std::string refused;                              // why the row did not run
};

// Lines of a table from its rows and the measured result per row label (compare rows' JSON).
std::vector<AblateLine> ablate_lines(const nlohmann::json& table,
                                     const std::vector<std::pair<std::string, nlohmann::json>>& measured,
                                     const std::vector<std::pair<std::string, std::string>>& refused);
std::string ablate_markdown(const nlohmann::json& table, const std::vector<AblateLine>& lines);

}  // namespace osv
