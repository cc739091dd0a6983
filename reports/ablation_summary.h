// A paper table's measured rows against the paper (`osvbench ablate` prints it, the HTML report
// draws it): each row's FVD with CI next to the paper's, whether its effect against the reference
// row has the paper's direction, and whether it lies outside the statistical noise (the row's FVD
// outside the reference's CI and vice versa).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace osv {

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
  bool reference = false;                           // the table's (or the row's) reference row
  bool reference_measured = false;                  // its reference row has a measured FVD
};

// Lines of a table from its rows and the measured result per row label (compare rows' JSON).
std::vector<AblateLine> ablate_lines(const nlohmann::json& table,
                                     const std::vector<std::pair<std::string, nlohmann::json>>& measured,
                                     const std::vector<std::pair<std::string, std::string>>& refused);
std::string ablate_markdown(const nlohmann::json& table, const std::vector<AblateLine>& lines);

// One word for a line against the paper: "reference", "reproduced" (the paper's direction, outside
// the noise), "same direction, within noise", "opposite, within noise", "not reproduced" (the
// opposite direction outside the noise), "same direction, no CI" / "opposite, no CI" (no interval
// to judge the noise by), "no paper value", "reference not measured", "refused" or "not measured".
std::string ablation_verdict(const AblateLine& line);

// The lines of an osvbench.ablate/1 document (its table, measured rows and refusals).
std::vector<AblateLine> ablate_lines(const nlohmann::json& ablate_doc);

}  // namespace osv
