#include "reports/ablation_summary.h"

#include <fmt/format.h>

namespace osv {

namespace {

bool has_fvd(const nlohmann::json& r) { return r.contains("fvd") && r["fvd"].is_number(); }
bool has_ci(const nlohmann::json& r) {
  return r.contains("ci") && r["ci"].is_object() && r["ci"].contains("low") && r["ci"]["low"].is_number() &&
         r["ci"].contains("high") && r["ci"]["high"].is_number();
}

// Outside the statistical noise: each FVD lies outside the other's interval (the test of a row
// against its reference and of every pair of rows).
bool outside_noise(double a, double a_low, double a_high, double b, double b_low, double b_high) {
  return (a < b_low || a > b_high) && (b < a_low || b > a_high);
}

std::string direction(double row, double ref) {
  if (row < ref) return "better";
  if (row > ref) return "worse";
  return "same";
}

}  // namespace

std::vector<AblateLine> ablate_lines(const nlohmann::json& table,
                                     const std::vector<std::pair<std::string, nlohmann::json>>& measured,
                                     const std::vector<std::pair<std::string, std::string>>& refused) {
  auto find = [&](const std::string& label) -> const nlohmann::json* {
    for (const auto& [l, j] : measured)
      if (l == label) return &j;
    return nullptr;
  };
  std::vector<AblateLine> out;
  for (const auto& r : table.at("rows")) {
    // The table's reference row, or the row's own (curves: the reference series at the same point).
    const std::string ref_label = r.value("reference", table.at("reference").get<std::string>());
    const nlohmann::json* ref = find(ref_label);
    if (ref && !has_fvd(*ref)) ref = nullptr;
    std::optional<double> ref_paper;
    for (const auto& q : table.at("rows"))
      if (q.at("label") == ref_label && q.at("paper_fvd").is_number()) ref_paper = q["paper_fvd"].get<double>();
    AblateLine l;
    l.label = r.at("label").get<std::string>();
    if (r.contains("x")) l.x = r["x"].get<long long>();
    if (r.at("paper_fvd").is_number()) l.paper = r["paper_fvd"].get<double>();
    for (const auto& [lab, why] : refused)
      if (lab == l.label) l.refused = why;
    if (const auto* m = find(l.label); m && has_fvd(*m)) {
      l.fvd = m->at("fvd").get<double>();
      if (m->contains("train_s") && (*m)["train_s"].is_number()) l.train_s = (*m)["train_s"].get<double>();
      if (has_ci(*m)) {
        l.ci_low = (*m)["ci"]["low"].get<double>();
        l.ci_high = (*m)["ci"]["high"].get<double>();
      }
    }
    const bool is_ref = l.label == ref_label;
    l.reference = is_ref;
    l.reference_measured = ref != nullptr;
    l.paper_direction = (!is_ref && l.paper && ref_paper) ? direction(*l.paper, *ref_paper) : "-";
    if (!is_ref && r.contains("paper_direction")) l.paper_direction = r["paper_direction"].get<std::string>();
    l.measured_direction = "-";
    l.agrees = l.significant = "-";
    if (!is_ref && l.fvd && ref) {
      const double rf = ref->at("fvd").get<double>();
      l.measured_direction = direction(*l.fvd, rf);
      if (l.paper_direction != "-") l.agrees = l.measured_direction == l.paper_direction ? "yes" : "no";
      // Outside the noise: the row's FVD lies outside the reference's CI and the reference's
      // FVD outside the row's CI.
      if (l.ci_low && has_ci(*ref)) {
        const double rl = (*ref)["ci"]["low"].get<double>(), rh = (*ref)["ci"]["high"].get<double>();
        l.significant = outside_noise(*l.fvd, *l.ci_low, *l.ci_high, rf, rl, rh) ? "yes" : "no";
      }
    }
    out.push_back(l);
  }
  return out;
}

std::string ablate_markdown(const nlohmann::json& table, const std::vector<AblateLine>& lines) {
  const bool curve = table.value("kind", "rows") == "curve";
  std::string s = fmt::format("{} (reference {}: {})\n", table.at("title").get<std::string>(),
                              curve ? "series, at the same iterations" : "row", table.at("reference").get<std::string>());
  if (table.contains("paper_claim")) s += "Paper: " + table["paper_claim"].get<std::string>() + "\n";
  s += "\n| row |";
  if (curve) s += " iterations | train s |";
  s += " measured FVD | 95% CI | paper FVD | paper vs ref | measured vs ref | same direction | outside CI |\n|---|";
  if (curve) s += "---|---|";
  s += "---|---|---|---|---|---|---|\n";
  for (const auto& l : lines) {
    const std::string fvd = l.fvd ? fmt::format("{:.2f}", *l.fvd) : (l.refused.empty() ? "-" : "refused");
    const std::string ci = l.ci_low ? fmt::format("[{:.2f}, {:.2f}]", *l.ci_low, *l.ci_high) : "-";
    s += "| " + l.label + " |";
    if (curve)
      s += fmt::format(" {} | {} |", l.x ? std::to_string(*l.x) : "-", l.train_s ? fmt::format("{:.1f}", *l.train_s) : "-");
    s += fmt::format(" {} | {} | {} | {} | {} | {} | {} |\n", fvd, ci, l.paper ? fmt::format("{:.2f}", *l.paper) : "-",
                     l.paper_direction, l.measured_direction, l.agrees, l.significant);
  }
  for (const auto& l : lines)
    if (!l.refused.empty()) s += fmt::format("refused: {}: {}\n", l.label, l.refused);
  if (const auto pairs = pairwise_sentence(pairwise_order(lines)); !pairs.empty()) s += "\n" + pairs;
  return s;
}

PairwiseOrder pairwise_order(const std::vector<AblateLine>& lines) {
  PairwiseOrder out;
  auto usable = [](const AblateLine& l) { return !l.x && l.paper && l.fvd && l.ci_low && l.ci_high; };
  for (size_t i = 0; i < lines.size(); ++i)
    for (size_t j = i + 1; j < lines.size(); ++j) {
      const AblateLine *a = &lines[i], *b = &lines[j];
      if (!usable(*a) || !usable(*b) || *a->paper == *b->paper) continue;
      if (*a->paper > *b->paper) std::swap(a, b);
      PairOrder p{a->label, b->label, *a->fvd, *b->fvd, *a->fvd < *b->fvd,
                  outside_noise(*a->fvd, *a->ci_low, *a->ci_high, *b->fvd, *b->ci_low, *b->ci_high)};
      ++(p.in_order ? (p.outside_noise ? out.in_order_outside : out.in_order_within)
                    : (p.outside_noise ? out.reversed_outside : out.reversed_within));
      out.pairs.push_back(std::move(p));
    }
  return out;
}

std::string pairwise_sentence(const PairwiseOrder& p) {
  if (p.pairs.size() < 3) return "";
  std::string s = fmt::format(
      "Every pair of rows ({} pairs with the paper's values and measured intervals): {} in the paper's order outside "
      "the noise, {} in its order within the noise, {} reversed within the noise, {} reversed outside the noise",
      p.pairs.size(), p.in_order_outside, p.in_order_within, p.reversed_within, p.reversed_outside);
  std::string rev;
  for (const auto& q : p.pairs)
    if (!q.in_order && q.outside_noise)
      rev += fmt::format("{}{} ({:.2f}) vs {} ({:.2f})", rev.empty() ? "" : "; ", q.better, q.better_fvd, q.worse,
                         q.worse_fvd);
  if (!rev.empty()) s += " (the paper's better row first: " + rev + ")";
  return s + ".\n";
}

std::string ablation_verdict(const AblateLine& l) {
  if (l.reference) return "reference";
  if (!l.refused.empty()) return "refused";
  if (!l.fvd) return "not measured";
  if (l.paper_direction == "-") return "no paper value";
  if (!l.reference_measured) return "reference not measured";
  if (l.significant == "-") return l.agrees == "yes" ? "same direction, no CI" : "opposite, no CI";
  if (l.agrees == "yes") return l.significant == "yes" ? "reproduced" : "same direction, within noise";
  return l.significant == "yes" ? "not reproduced" : "opposite, within noise";
}

std::vector<AblateLine> ablate_lines(const nlohmann::json& doc) {
  std::vector<std::pair<std::string, nlohmann::json>> measured;
  std::vector<std::pair<std::string, std::string>> refused;
  for (const auto& m : doc.value("measured", nlohmann::json::array()))
    measured.emplace_back(m.at("label").get<std::string>(), m.at("result"));
  for (const auto& r : doc.value("refused", nlohmann::json::array()))
    refused.emplace_back(r.at("label").get<std::string>(), r.at("reason").get<std::string>());
  return ablate_lines(doc.at("table"), measured, refused);
}

}  // namespace osv
