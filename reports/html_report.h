// The self-contained HTML report (`osvbench report`): one file, no network, inline CSS, charts as
// inline SVG, sample videos inlined as data: URIs. Everything shown comes from the JSON results
// (schema: reports/README.md); all text taken from data is HTML-escaped.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace osv {

struct ReportInputs {
  std::string title = "osvbench report";
  std::vector<nlohmann::json> compares;  // osvbench.compare/1 documents
  std::vector<nlohmann::json> ablations;  // osvbench.ablate/1 documents
  std::vector<nlohmann::json> reconstructions;  // osvbench.reconstruct/1 documents (the floors)
  // Training curves: run name -> (step, loss) points.
  std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>> curves;
  // Sample videos per compare row key ("method sampler steps cfg"): mp4 bytes, same first frames
  // in the same order for every row.
  std::vector<std::pair<std::string, std::vector<std::string>>> videos;
};

std::string html_escape(const std::string& s);
std::string base64_encode(const std::string& bytes);
// Inline SVG scatters of FVD (y) with CI bars, one colour per method and sampler, the Pareto front
// (rows no other row beats on both axes) ringed and joined: against NFE (log2 axis), and against
// training cost (`train_s` of the rows that carry it, log10 axis). A series keeps its colour across
// charts when both are given the same `colours` (series_colours of the whole comparison); empty:
// the colours of the rows given.
std::map<std::string, int> series_colours(const nlohmann::json& rows);  // "method sampler" -> colour index, by name
std::string fvd_vs_nfe_svg(const nlohmann::json& rows, const std::map<std::string, int>& colours = {});
std::string fvd_vs_cost_svg(const nlohmann::json& rows, const std::map<std::string, int>& colours = {});
// An inline SVG of loss curves (one polyline per run, x = step) of width x height pixels.
std::string curves_svg(const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& curves,
                       double width = 640, double height = 300);
std::string render_html_report(const ReportInputs& in);

}  // namespace osv
