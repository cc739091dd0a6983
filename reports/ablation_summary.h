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

// Every pair of a row table's lines that both carry the paper's value (two different values) and a
// measured FVD with CI: is the measured order the paper's, and is it outside the noise (each row's
// FVD outside the other's CI, the test used against the reference)? A table of many methods
// (Table 1) claims an order between every two rows, not only against its reference row.
struct PairOrder {
  std::string better, worse;  // the paper's order: `better` has the lower paper FVD
  double better_fvd = 0, worse_fvd = 0;  // measured
  bool in_order = false;       // measured better_fvd < worse_fvd
  bool outside_noise = false;
};
struct PairwiseOrder {
  std::vector<PairOrder> pairs;
  int in_order_outside = 0, in_order_within = 0, reversed_within = 0, reversed_outside = 0;
};
PairwiseOrder pairwise_order(const std::vector<AblateLine>& lines);
// One sentence of counts and the pairs reversed outside the noise (empty below 3 pairs: then the
// reference column already says it).
std::string pairwise_sentence(const PairwiseOrder& p);

// The lines of an osvbench.ablate/1 document (its table, measured rows and refusals).
std::vector<AblateLine> ablate_lines(const nlohmann::json& ablate_doc);

}  // namespace osv
