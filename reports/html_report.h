// The self-contained HTML report (`osvbench report`): one file, no network, inline CSS, charts as
// inline SVG, sample videos inlined as data: URIs. Everything shown comes from the JSON results
// (schema: reports/README.md); all text taken from data is HTML-escaped.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace osv {

struct ReportInputs {
  std::string title = "osvbench report";
  std::vector<nlohmann::json> compares;  // osvbench.compare/1 documents
  std::vector<nlohmann::json> ablations;  // osvbench.ablate/1 documents
  // Training curves: run name -> (step, loss) points.
  std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>> curves;
  // Sample videos per compare row key ("method sampler steps cfg"): mp4 bytes, same first frames
  // in the same order for every row.
  std::vector<std::pair<std::string, std::vector<std::string>>> videos;
};

std::string html_escape(const std::string& s);
std::string base64_encode(const std::string& bytes);
// An inline SVG scatter of FVD (y) against NFE (x, log2 axis) with CI bars, one colour per method.
std::string fvd_vs_nfe_svg(const nlohmann::json& rows);
// An inline SVG of loss curves (one polyline per run, x = step).
std::string curves_svg(const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& curves);
std::string render_html_report(const ReportInputs& in);

}  // namespace osv
