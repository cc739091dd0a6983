#include "reports/html_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "reports/ablation_summary.h"

namespace osv {

std::string html_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string base64_encode(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += k[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < in.size() ? k[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

namespace {

const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

std::string num(const nlohmann::json& j, const char* key, const char* f = "{:.2f}") {
  if (!j.contains(key) || !j[key].is_number()) return "-";
  return fmt::format(fmt::runtime(f), j[key].get<double>());
}

// "[low, high]" of a row's (or a floor's) 95% interval, "-" without one.
std::string ci_text(const nlohmann::json& r) {
  if (!r.contains("ci") || !r["ci"].is_object() || !r["ci"].contains("low")) return "-";
  return fmt::format("[{:.2f}, {:.2f}]", r["ci"]["low"].get<double>(), r["ci"]["high"].get<double>());
}

std::string cfg_text(const nlohmann::json& r) {
  const auto& c = r.at("cfg");
  return c.is_string() ? c.get<std::string>() : fmt::format("{}", c.get<double>());
}

std::string row_key(const nlohmann::json& r) {
  return fmt::format("{} {} {} cfg {}", r.at("method").get<std::string>(), r.at("sampler").get<std::string>(),
                     r.at("steps").get<int>(), cfg_text(r));
}

struct Axis {
  double lo, hi, px0, px1;
  double operator()(double v) const { return hi > lo ? px0 + (v - lo) / (hi - lo) * (px1 - px0) : (px0 + px1) / 2; }
};

// The rows no other row beats on both axes (lower x and lower FVD), by index, in x order.
std::vector<std::size_t> pareto_front(const std::vector<std::pair<double, double>>& xy) {
  std::vector<std::size_t> order(xy.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return xy[a].first != xy[b].first ? xy[a].first < xy[b].first : xy[a].second < xy[b].second;
  });
  std::vector<std::size_t> front;
  double best = std::numeric_limits<double>::infinity();
  for (std::size_t i : order)
    if (xy[i].second < best) {
      front.push_back(i);
      best = xy[i].second;
    }
  return front;
}

std::string series_name(const nlohmann::json& r) {
  return r.at("method").get<std::string>() + " " + r.at("sampler").get<std::string>();
}

// FVD (y, with CI bars) against a positive cost (x, log axis), one colour per method and sampler,
// the Pareto front ringed and joined. `x` gives a row's cost (<= 0: the row is not drawn).
std::string fvd_scatter_svg(const std::vector<nlohmann::json>& rows, const std::function<double(const nlohmann::json&)>& x,
                            const std::string& x_label, int log_base, const std::string& aria,
                            const std::map<std::string, int>& colours) {
  // Without the whole comparison's colours, the colours of the rows given.
  const auto colour = colours.empty() ? series_colours(nlohmann::json(rows)) : colours;
  std::vector<const nlohmann::json*> drawn;
  for (const auto& r : rows)
    if (x(r) > 0 && r.contains("fvd") && r["fvd"].is_number()) drawn.push_back(&r);
  if (drawn.empty()) return "<p class=\"note\">No rows to draw.</p>";
  auto lx = [&](double v) { return std::log(v) / std::log(static_cast<double>(log_base)); };
  const double W = 640, H = 360, L = 60, R = 170, T = 20, B = 40;
  double xlo = std::numeric_limits<double>::max(), xhi = -xlo, ylo = xlo, yhi = 0;
  std::vector<std::pair<double, double>> xy;
  for (const auto* r : drawn) {
    const double v = lx(x(*r));
    xlo = std::min(xlo, v);
    xhi = std::max(xhi, v);
    const double f = (*r)["fvd"].get<double>();
    ylo = std::min(ylo, r->contains("ci") ? (*r)["ci"]["low"].get<double>() : f);
    yhi = std::max(yhi, r->contains("ci") ? (*r)["ci"]["high"].get<double>() : f);
    xy.emplace_back(x(*r), f);
  }
  ylo = std::max(0.0, ylo - 0.05 * (yhi - ylo + 1));
  yhi += 0.05 * (yhi - ylo + 1);
  const Axis ax{std::floor(xlo) - 0.25, std::ceil(xhi) + 0.25, L, W - R}, ay{ylo, yhi, H - B, T};
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"{}\">"
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>",
      W, H, html_escape(aria), L, T, W - R - L, H - B - T);
  for (int i = 0; i <= 4; ++i) {
    const double v = ylo + (yhi - ylo) * i / 4;
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"11\" text-anchor=\"end\">{:.0f}</text>", L - 5, ay(v) + 4, v);
  }
  for (int e = static_cast<int>(std::floor(xlo)); e <= static_cast<int>(std::ceil(xhi)); ++e)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{:g}</text>", ax(e), H - B + 15,
                     std::pow(static_cast<double>(log_base), e));
  s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">{} (log scale)</text>",
                   (L + W - R) / 2, H - 5, html_escape(x_label));
  s += fmt::format("<text x=\"14\" y=\"{}\" font-size=\"12\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">FVD</text>",
                   (T + H - B) / 2, (T + H - B) / 2);
  // The Pareto front first, under the points.
  const auto front = pareto_front(xy);
  std::string poly;
  for (std::size_t i : front) poly += fmt::format("{:.1f},{:.1f} ", ax(lx(xy[i].first)), ay(xy[i].second));
  s += fmt::format("<polyline class=\"pareto\" fill=\"none\" stroke=\"#555\" stroke-dasharray=\"4 3\" points=\"{}\"/>", poly);
  for (std::size_t i : front)
    s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"8\" fill=\"none\" stroke=\"#555\"/>", ax(lx(xy[i].first)),
                     ay(xy[i].second));
  std::map<std::string, int> shown;  // the legend: the series drawn here, with their colours
  for (std::size_t i = 0; i < drawn.size(); ++i) {
    const auto& r = *drawn[i];
    const auto m = series_name(r);
    shown[m] = colour.at(m);  // series_colours names every row's series
    const char* c = kColours[shown[m] % 8];
    const double px = ax(lx(xy[i].first)), py = ay(xy[i].second);
    if (r.contains("ci"))
      s += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\"/>", px, px,
                       ay(r["ci"]["low"].get<double>()), ay(r["ci"]["high"].get<double>()), c);
    s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\"><title>{}: FVD {:.2f}, {} {:g}</title></circle>",
                     px, py, c, html_escape(row_key(r)), xy[i].second, html_escape(x_label), xy[i].first);
  }
  int i = 0;
  for (const auto& [m, ci] : shown) {
    s += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
                     W - R + 12, T + 10 + 16 * i, kColours[ci % 8], W - R + 20, T + 14 + 16 * i, html_escape(m));
    ++i;
  }
  s += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"8\" fill=\"none\" stroke=\"#555\"/><text x=\"{}\" y=\"{}\" "
                   "font-size=\"11\">Pareto front</text>",
                   W - R + 12, T + 14 + 16 * i, W - R + 24, T + 18 + 16 * i);
  return s + "</svg>";
}

std::vector<nlohmann::json> as_vector(const nlohmann::json& rows) {
  std::vector<nlohmann::json> v;
  for (const auto& r : rows) v.push_back(r);
  return v;
}

// What a run trained, from its folder under the runs root: the run keys (hex) dropped, e.g.
// "assets/svd-embedded-9dd2176a5443/train/vae" -> "embedded VAE", "osv-stage2-fa53e28056b6" -> "OSV stage 2".
std::string curve_group(const std::string& run) {
  static const std::regex key("-[0-9a-f]{8,}");
  std::string g = std::regex_replace(run, key, "");
  static const std::vector<std::pair<std::string, std::string>> names = {
      {"assets/svd-embedded/train/vae", "embedded VAE"},
      {"assets/svd-embedded/train/image_encoder", "embedded image encoder"},
      {"assets/svd-embedded/train/unet", "teacher (embedded SVD UNet)"},
      {"assets/dinov2-embedded", "embedded DINOv2 (discriminator backbone)"},
      {"osv-stage1", "OSV stage 1"},
      {"osv-stage2", "OSV stage 2"},
      {"animatelcm", "AnimateLCM"},
      {"sfv", "SF-V"}};
  for (const auto& [k, v] : names)
    if (g == k) return v;
  return g;
}

std::string badge(const std::string& verdict) {
  std::string cls = "na";
  if (verdict == "reproduced") cls = "ok";
  else if (verdict.find("within noise") != std::string::npos || verdict.find("no CI") != std::string::npos) cls = "weak";
  else if (verdict == "not reproduced") cls = "bad";
  else if (verdict == "reference") cls = "ref";
  return "<span class=\"badge " + cls + "\">" + html_escape(verdict) + "</span>";
}

// "teacher, osv · steps 1, 2 · 64 clips": what a comparison's rows span.
std::string compare_title(const nlohmann::json& rows) {
  std::vector<std::string> methods;
  std::set<int> steps;
  std::set<long long> n;
  for (const auto& r : rows) {
    const auto m = r.at("method").get<std::string>();
    if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
    steps.insert(r.at("steps").get<int>());
    if (r.contains("n_fake") && r["n_fake"].is_number()) n.insert(r["n_fake"].get<long long>());
  }
  std::string t = "Compare: ";
  for (std::size_t i = 0; i < methods.size(); ++i) t += (i ? ", " : "") + methods[i];
  t += " · steps ";
  std::size_t i = 0;
  for (int s : steps) t += (i++ ? ", " : "") + std::to_string(s);
  if (n.size() == 1) t += fmt::format(" · {} clips", *n.begin());
  return t;
}

// Markdown text with pipe tables: each table as an HTML table (its first line the header), every
// other line as a paragraph.
std::string markdown_tables_html(const std::string& md) {
  std::string h, line;
  bool in_table = false, header = false;
  std::istringstream is(md);
  auto cells = [](const std::string& l) {
    std::vector<std::string> c;
    std::size_t p = 1;
    while (p < l.size()) {
      const auto e = l.find('|', p);
      if (e == std::string::npos) break;
      auto cell = l.substr(p, e - p);
      const auto a = cell.find_first_not_of(' '), b = cell.find_last_not_of(' ');
      c.push_back(a == std::string::npos ? "" : cell.substr(a, b - a + 1));
      p = e + 1;
    }
    return c;
  };
  while (std::getline(is, line)) {
    const bool row = !line.empty() && line.front() == '|';
    if (row && !in_table) {
      h += "<table><thead><tr>";
      for (const auto& c : cells(line)) h += "<th>" + html_escape(c) + "</th>";
      h += "</tr></thead><tbody>\n";
      in_table = header = true;
      continue;
    }
    if (!row && in_table) {
      h += "</tbody></table>\n";
      in_table = false;
    }
    if (row) {
      if (header && line.find_first_not_of("|-: ") == std::string::npos) {  // the separator line
        header = false;
        continue;
      }
      h += "<tr>";
      bool first = true;
      for (const auto& c : cells(line)) {
        h += (first ? "<td class=\"l\">" : "<td>") + html_escape(c) + "</td>";
        first = false;
      }
      h += "</tr>\n";
    } else if (!line.empty()) {
      h += "<p>" + html_escape(line) + "</p>\n";
    }
  }
  if (in_table) h += "</tbody></table>\n";
  return h;
}

}  // namespace

std::map<std::string, int> series_colours(const nlohmann::json& rows) {
  std::map<std::string, int> colour;
  for (const auto& r : rows) colour[series_name(r)] = 0;
  int i = 0;
  for (auto& [m, c] : colour) c = i++;
  return colour;
}

std::string fvd_vs_nfe_svg(const nlohmann::json& rows, const std::map<std::string, int>& colours) {
  return fvd_scatter_svg(
      as_vector(rows), [](const nlohmann::json& r) { return std::max<double>(1, r.at("nfe").get<double>()); }, "NFE", 2,
      "FVD against NFE", colours);
}

std::string fvd_vs_cost_svg(const nlohmann::json& rows, const std::map<std::string, int>& colours) {
  return fvd_scatter_svg(
      as_vector(rows),
      [](const nlohmann::json& r) { return r.contains("train_s") && r["train_s"].is_number() ? r["train_s"].get<double>() : 0.0; },
      "training seconds", 10, "FVD against training cost", colours);
}

std::string curves_svg(const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& curves,
                       double width, double height) {
  const double W = width, H = height, L = 55, R = 10, T = 12, B = 32;
  double xhi = 1, ylo = std::numeric_limits<double>::max(), yhi = -std::numeric_limits<double>::max();
  for (const auto& [n, pts] : curves)
    for (const auto& [x, y] : pts) {
      if (!std::isfinite(y)) continue;
      xhi = std::max(xhi, x);
      ylo = std::min(ylo, y);
      yhi = std::max(yhi, y);
    }
  if (curves.empty() || ylo > yhi) return "<p>No training curves.</p>";
  // Losses can span orders of magnitude: a log axis when every loss is positive.
  const bool logy = ylo > 0;
  auto fy = [logy](double y) { return logy ? std::log10(y) : y; };
  const Axis ax{0, xhi, L, W - R}, ayl{fy(ylo), fy(yhi), H - B, T};
  auto ay = [&](double y) { return ayl(fy(y)); };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"training loss\">"
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>",
      W, H, L, T, W - R - L, H - B - T);
  s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{:.3g}</text>", L - 4, T + 8, yhi);
  s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{:.3g}</text>", L - 4, H - B, ylo);
  s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">step (to {:.0f}); loss{}</text>",
                   (L + W - R) / 2, H - 8, xhi, logy ? ", log" : "");
  int i = 0;
  for (const auto& [name, pts] : curves) {
    const char* c = kColours[i % 8];
    std::string poly;
    // Every point would make the file large for long runs: at most ~400 per curve.
    const std::size_t stride = std::max<std::size_t>(1, pts.size() / 400);
    for (std::size_t k = 0; k < pts.size(); k += stride)
      if (std::isfinite(pts[k].second)) poly += fmt::format("{:.1f},{:.1f} ", ax(pts[k].first), ay(pts[k].second));
    s += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.2\" points=\"{}\"><title>{}</title></polyline>", c,
                     poly, html_escape(name));
    ++i;
  }
  return s + "</svg>";
}

std::string render_html_report(const ReportInputs& in) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(in.title) +
                  "</title>\n<style>"
                  "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}"
                  "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px;"
                  "text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}"
                  "video{width:128px;height:128px;image-rendering:pixelated;background:#000}"
                  "details{margin:0.5em 0}pre{background:#f7f7f7;padding:0.5em;overflow:auto;font-size:12px}"
                  ".note{color:#666;font-size:90%}.scroll{overflow-x:auto}td.v{text-align:center}"
                  ".badge{border-radius:3px;padding:1px 6px;font-size:85%;color:#fff;white-space:nowrap}"
                  ".ok{background:#2e7d32}.weak{background:#f9a825;color:#222}.bad{background:#c62828}"
                  ".ref{background:#607d8b}.na{background:#ccc;color:#222}"
                  ".grid{display:flex;flex-wrap:wrap;gap:14px}.grid figure{margin:0}"
                  ".grid figcaption{font-size:90%;font-weight:600;margin-bottom:2px}"
                  "</style></head><body>\n";
  h += "<h1>" + html_escape(in.title) + "</h1>\n";
  h += "<p class=\"note\">FVD is lower-is-better; 95% intervals of the expected FVD at the row's N (bootstrap, reverse percentile about the bootstrap mean; FVD is biased by N, so rows compare only at equal N). NFE = network evaluations per clip, counted by "
       "the samplers. Every number below carries its provenance (expand the details).</p>\n";

  // Every compare row once (the same row in two comparisons is one point).
  nlohmann::json all_rows = nlohmann::json::array();
  {
    std::set<std::string> seen;
    for (const auto& doc : in.compares)
      for (const auto& r : doc.at("rows"))
        if (r.contains("fvd") && r["fvd"].is_number() && r.contains("nfe") && r["nfe"].is_number() &&
            seen.insert(row_key(r) + " n " + num(r, "n_fake", "{:.0f}")).second)
          all_rows.push_back(r);
  }
  // FVD tables get their lines against the paper; cost tables (fig3) are shown as they were printed.
  std::vector<std::pair<const nlohmann::json*, std::vector<AblateLine>>> tables;
  std::vector<const nlohmann::json*> cost_tables;
  for (const auto& a : in.ablations) {
    if (a.at("table").value("kind", "rows") == "cost") cost_tables.push_back(&a);
    else tables.emplace_back(&a, ablate_lines(a));
  }

  // The summary: which of the paper's claims this run reproduces, and the best rows.
  h += "<h2 id=\"summary\">Summary</h2>\n";
  if (!tables.empty()) {
    int claims = 0, reproduced = 0;
    h += "<table id=\"summary-claims\"><thead><tr><th class=\"l\">paper table</th><th>reproduced</th>"
         "<th>same direction, within noise (or no CI)</th><th>opposite, within noise (or no CI)</th><th>not reproduced</th>"
         "<th>not measured</th><th>no paper value: measured (differs from its reference outside the noise)</th>"
         "</tr></thead><tbody>\n";
    for (const auto& [doc, lines] : tables) {
      std::map<std::string, int> count;
      for (const auto& l : lines) ++count[ablation_verdict(l)];
      const int unmeasured = count["not measured"] + count["refused"] + count["reference not measured"];
      const int same = count["same direction, within noise"] + count["same direction, no CI"];
      const int opposite = count["opposite, within noise"] + count["opposite, no CI"];
      claims += count["reproduced"] + same + opposite + count["not reproduced"];
      reproduced += count["reproduced"];
      // Rows without a paper value (the fidelity ledger's alternatives) claim nothing; what they
      // show is whether the choice moves the FVD at all.
      int moved = 0;
      for (const auto& l : lines) moved += ablation_verdict(l) == "no paper value" && l.significant == "yes";
      const int no_paper = count["no paper value"];
      h += fmt::format("<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                       html_escape(doc->at("table").at("title").get<std::string>()), count["reproduced"], same,
                       opposite, count["not reproduced"], unmeasured,
                       no_paper ? fmt::format("{} ({} outside the noise)", no_paper, moved) : std::string("0"));
    }
    h += "</tbody></table>\n";
    h += fmt::format("<p>Of the {} measured rows with a direction in the paper, <b>{}</b> reproduce it outside the "
                     "statistical noise (the row's FVD outside the reference's 95% interval and the reference's outside "
                     "the row's).</p>\n",
                     claims, reproduced);
    // Tables of many rows claim an order between every two of them (Table 1: methods at their
    // step counts), which the counts against the reference row do not show.
    for (const auto& [doc, lines] : tables)
      if (const auto pairs = pairwise_sentence(pairwise_order(lines)); !pairs.empty())
        h += "<p class=\"pairs\"><b>" + html_escape(doc->at("table").at("title").get<std::string>()) + ".</b> " +
             html_escape(pairs) + "</p>\n";
  }
  // The floors every row is read against: the VAE's reconstructions of the held-out clips (every
  // sample is decoded by the same VAE) and the training clips against the held-out ones, at the same N.
  if (!in.reconstructions.empty()) {
    h += "<h2 id=\"floors\">Floors</h2>\n<p class=\"note\">What the data and the decoder alone score: the held-out "
         "clips through the VAE (encoded to their latents' mode and decoded, as every method's samples are) against "
         "the same real statistics as the rows, and as many training clips against the held-out ones (real against "
         "real). Both are references, not bounds: the reconstructions are the real set's own clips.</p>\n"
         "<table id=\"floors\"><thead><tr><th class=\"l\">what</th><th>FVD</th><th>95% CI</th><th>N</th>"
         "<th>pixel MSE</th><th>reconstruction / real-vs-real</th><th>s/clip</th></tr></thead><tbody>\n";
    for (const auto& doc : in.reconstructions) {
      const auto& r = doc.at("row");
      h += fmt::format("<tr><td class=\"l\">VAE reconstructions of the held-out clips</td><td>{}</td><td>{}</td>"
                       "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                       num(r, "fvd"), ci_text(r), num(r, "n_fake", "{:.0f}"), num(r, "pixel_mse", "{:.5f}"),
                       num(r, "ratio_to_floor"), num(r, "latency_s_per_clip", "{:.3f}"));
      if (r.contains("floor") && r["floor"].is_object())
        h += fmt::format("<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>-</td><td>-</td><td>-</td></tr>\n",
                         html_escape(r["floor"].value("what", "training clips vs the held-out clips")),
                         num(r["floor"], "fvd"), ci_text(r["floor"]), num(r["floor"], "n_fake", "{:.0f}"));
    }
    h += "</tbody></table>\n";
    for (const auto& doc : in.reconstructions)
      h += "<details><summary>Provenance of the reconstruction</summary><pre>" +
           html_escape(doc.at("row").value("provenance", nlohmann::json::object()).dump(2)) + "</pre></details>\n";
  }
  // FVD is biased by N: rows of different N are not compared (one front and chart per N).
  std::map<long long, nlohmann::json> by_n;
  for (const auto& r : all_rows)
    by_n[r.contains("n_fake") && r["n_fake"].is_number() ? r["n_fake"].get<long long>() : 0].push_back(r);
  const auto colours = series_colours(all_rows);  // a series has one colour in every chart
  for (const auto& [n, rows] : by_n) {
    const std::string at_n = by_n.size() > 1 ? fmt::format(" (N = {} clips)", n) : "";
    std::vector<std::pair<double, double>> xy;
    for (const auto& r : rows) xy.emplace_back(std::max<double>(1, r.at("nfe").get<double>()), r.at("fvd").get<double>());
    h += "<p>Pareto front of FVD against NFE" + at_n +
         " (no other row has both fewer network evaluations and a lower FVD): ";
    std::size_t k = 0;
    for (std::size_t i : pareto_front(xy))
      h += (k++ ? "; " : "") + fmt::format("<b>{}</b> (NFE {}, FVD {:.2f})", html_escape(row_key(rows[i])),
                                           rows[i].at("nfe").get<int64_t>(), rows[i].at("fvd").get<double>());
    h += ".</p>\n";
    h += "<h3>FVD against NFE, every compared row" + at_n + "</h3>\n" + fvd_vs_nfe_svg(rows, colours) + "\n";
    nlohmann::json costed = nlohmann::json::array();
    for (const auto& r : rows)
      if (r.contains("train_s") && r["train_s"].is_number() && r["train_s"].get<double>() > 0) costed.push_back(r);
    if (!costed.empty())
      h += "<h3>FVD against training cost" + at_n + "</h3>\n<p class=\"note\">Training cost: the seconds of the "
           "logged training steps of the run behind each row's weights (checkpoints and data encoding excluded; "
           "OSV: both stages); rows without a trained run of their own, such as the teacher's, are not drawn.</p>\n" +
           fvd_vs_cost_svg(costed, colours) + "\n";
  }

  for (std::size_t ci = 0; ci < in.compares.size(); ++ci) {
    const auto& doc = in.compares[ci];
    const auto& rows = doc.at("rows");
    h += fmt::format("<h2>{}</h2>\n<table id=\"compare-{}\"><thead><tr><th class=\"l\">method</th>"
                     "<th class=\"l\">sampler</th><th>steps</th><th>cfg</th><th>NFE</th><th>FVD</th><th>95% CI</th>"
                     "<th>N</th><th>train steps &times; batch</th><th>student / teacher UNet passes</th><th>train s</th><th>s/clip</th><th>clips/s</th><th>peak RSS MiB</th></tr></thead><tbody>\n",
                     html_escape(compare_title(rows)), ci);
    for (const auto& r : rows) {
      h += fmt::format("<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                       "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                       html_escape(r.at("method").get<std::string>()), html_escape(r.at("sampler").get<std::string>()),
                       r.at("steps").get<int>(), html_escape(cfg_text(r)), r.at("nfe").get<int64_t>(), num(r, "fvd"),
                       ci_text(r), num(r, "n_fake", "{:.0f}"), num(r, "train_clip_steps", "{:.0f}"),
                       r.contains("train_student_passes")
                           ? fmt::format("{:.0f} / {:.0f}", r["train_student_passes"].get<double>(),
                                         r["train_teacher_passes"].get<double>())
                           : "-",
                       num(r, "train_s", "{:.1f}"),
                       num(r, "latency_s_per_clip", "{:.3f}"), num(r, "clips_per_s"), num(r, "peak_rss_mib", "{:.0f}"));
    }
    h += "</tbody></table>\n";
    if (doc.contains("refused") && !doc["refused"].empty()) {
      h += "<p>Refused rows:</p><ul>";
      for (const auto& r : doc["refused"]) h += "<li>" + html_escape(r.get<std::string>()) + "</li>";
      h += "</ul>\n";
    }
    h += "<details><summary>Provenance of this comparison</summary><pre>" +
         html_escape(doc.value("provenance", nlohmann::json::object()).dump(2)) + "</pre>";
    for (const auto& r : rows)
      h += "<details><summary>" + html_escape(row_key(r)) + "</summary><pre>" + html_escape(r.dump(2)) +
           "</pre></details>";
    h += "</details>\n";
  }
  if (!in.videos.empty()) {
    // One line per first frame, every row's clip of it side by side.
    h += "<h2>Samples</h2>\n<p class=\"note\">Each line starts from the same first frame; each column is a row "
         "(method, sampler, steps, cfg).</p>\n<div class=\"scroll\"><table id=\"samples\"><thead><tr><th>first frame</th>";
    std::size_t n = 0;
    for (const auto& [k, v] : in.videos) {
      n = std::max(n, v.size());
      h += "<th class=\"l\">" + html_escape(k) + "</th>";
    }
    h += "</tr></thead><tbody>\n";
    for (std::size_t i = 0; i < n; ++i) {
      h += fmt::format("<tr><td>{}</td>", i);
      for (const auto& [k, v] : in.videos)
        h += i < v.size() ? "<td class=\"v\"><video autoplay loop muted playsinline title=\"" + html_escape(k) +
                                "\" src=\"data:video/mp4;base64," + base64_encode(v[i]) + "\"></video></td>"
                          : "<td>-</td>";
      h += "</tr>\n";
    }
    h += "</tbody></table></div>\n";
  }
  for (std::size_t t = 0; t < tables.size(); ++t) {
    const auto& [doc, lines] = tables[t];
    const auto& table = doc->at("table");
    const bool curve = table.value("kind", "rows") == "curve";
    h += fmt::format("<h2>{}</h2>\n", html_escape(table.at("title").get<std::string>()));
    if (table.contains("paper_claim"))
      h += "<p>Paper: " + html_escape(table["paper_claim"].get<std::string>()) + "</p>\n";
    h += fmt::format("<p class=\"note\">Against the reference {} <b>{}</b>.</p>\n",
                     curve ? "series at the same iterations," : "row", html_escape(table.at("reference").get<std::string>()));
    h += fmt::format("<table id=\"ablation-{}\"><thead><tr><th class=\"l\">row</th>", t);
    if (curve) h += "<th>iterations</th><th>train s</th>";
    h += "<th>FVD</th><th>95% CI</th><th>paper FVD</th><th>paper vs ref</th><th>measured vs ref</th>"
         "<th class=\"l\">against the paper</th></tr></thead><tbody>\n";
    for (const auto& l : lines) {
      h += "<tr><td class=\"l\">" + html_escape(l.label) + "</td>";
      if (curve)
        h += fmt::format("<td>{}</td><td>{}</td>", l.x ? std::to_string(*l.x) : "-",
                         l.train_s ? fmt::format("{:.1f}", *l.train_s) : "-");
      h += fmt::format("<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>\n",
                       l.fvd ? fmt::format("{:.2f}", *l.fvd) : "-",
                       l.ci_low ? fmt::format("[{:.2f}, {:.2f}]", *l.ci_low, *l.ci_high) : "-",
                       l.paper ? fmt::format("{:.2f}", *l.paper) : "-", html_escape(l.paper_direction),
                       html_escape(l.measured_direction), badge(ablation_verdict(l)));
    }
    h += "</tbody></table>\n";
    for (const auto& l : lines)
      if (!l.refused.empty()) h += "<p class=\"note\">refused: " + html_escape(l.label + ": " + l.refused) + "</p>\n";
    h += "<details><summary>As markdown, and provenance</summary><pre>" + html_escape(doc->value("markdown", "")) +
         "</pre><pre>" + html_escape(doc->value("provenance", nlohmann::json::object()).dump(2)) + "</pre></details>\n";
  }
  for (const auto* doc : cost_tables) {
    const auto title = doc->at("table").at("title").get<std::string>();
    std::string md = doc->value("markdown", "");
    if (md.rfind(title, 0) == 0) md = md.substr(std::min(md.size(), md.find('\n') + 1));  // the title line, shown above
    h += "<h2>" + html_escape(title) + "</h2>\n" + markdown_tables_html(md) +
         "<details><summary>Provenance</summary><pre>" +
         html_escape(doc->value("provenance", nlohmann::json::object()).dump(2)) + "</pre></details>\n";
  }
  // Training curves as small multiples, one chart per kind of run (a kind's runs share its chart).
  h += "<h2>Training curves</h2>\n";
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>>> groups;
  for (const auto& c : in.curves) {
    const auto g = curve_group(c.first);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& x) { return x.first == g; });
    if (it == groups.end()) {
      groups.push_back({g, {}});
      it = groups.end() - 1;
    }
    it->second.push_back(c);
  }
  if (groups.empty()) h += "<p>No training curves.</p>\n";
  h += "<div class=\"grid\" id=\"curves\">\n";
  for (const auto& [g, cs] : groups)
    h += fmt::format("<figure><figcaption>{} ({} run{})</figcaption>{}</figure>\n", html_escape(g), cs.size(),
                     cs.size() == 1 ? "" : "s", curves_svg(cs, 360, 200));
  h += "</div>\n</body></html>\n";
  return h;
}

}  // namespace osv
