#include "reports/html_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

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

}  // namespace

std::string fvd_vs_nfe_svg(const nlohmann::json& rows) {
  const double W = 640, H = 360, L = 60, R = 150, T = 20, B = 40;
  double xlo = std::numeric_limits<double>::max(), xhi = 0, ylo = std::numeric_limits<double>::max(), yhi = 0;
  for (const auto& r : rows) {
    const double x = std::log2(std::max<double>(1, r.at("nfe").get<double>()));
    xlo = std::min(xlo, x);
    xhi = std::max(xhi, x);
    const double lo = r.contains("ci") ? r["ci"]["low"].get<double>() : r["fvd"].get<double>();
    const double hi = r.contains("ci") ? r["ci"]["high"].get<double>() : r["fvd"].get<double>();
    ylo = std::min(ylo, lo);
    yhi = std::max(yhi, hi);
  }
  if (rows.empty()) return "<p>No rows.</p>";
  ylo = std::max(0.0, ylo - 0.05 * (yhi - ylo + 1));
  yhi += 0.05 * (yhi - ylo + 1);
  const Axis ax{xlo - 0.5, xhi + 0.5, L, W - R}, ay{ylo, yhi, H - B, T};
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"FVD against NFE\">"
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>",
      W, H, L, T, W - R - L, H - B - T);
  for (int i = 0; i <= 4; ++i) {
    const double v = ylo + (yhi - ylo) * i / 4;
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"11\" text-anchor=\"end\">{:.0f}</text>", L - 5, ay(v) + 4, v);
  }
  for (int e = static_cast<int>(std::floor(xlo)); e <= static_cast<int>(std::ceil(xhi)); ++e)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>", ax(e), H - B + 15,
                     1 << e);
  s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">NFE (log scale)</text>",
                   (L + W - R) / 2, H - 5);
  s += fmt::format("<text x=\"14\" y=\"{}\" font-size=\"12\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">FVD</text>",
                   (T + H - B) / 2, (T + H - B) / 2);
  std::map<std::string, int> colour;
  for (const auto& r : rows) {
    const auto m = r.at("method").get<std::string>() + " " + r.at("sampler").get<std::string>();
    if (!colour.count(m)) colour[m] = static_cast<int>(colour.size());
    const char* c = kColours[colour[m] % 8];
    const double x = ax(std::log2(std::max<double>(1, r["nfe"].get<double>()))), y = ay(r["fvd"].get<double>());
    if (r.contains("ci"))
      s += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\"/>", x, x,
                       ay(r["ci"]["low"].get<double>()), ay(r["ci"]["high"].get<double>()), c);
    s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\"><title>{}: FVD {:.2f}</title></circle>", x,
                     y, c, html_escape(row_key(r)), r["fvd"].get<double>());
  }
  int i = 0;
  for (const auto& [m, ci] : colour) {
    s += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
                     W - R + 12, T + 10 + 16 * i, kColours[ci % 8], W - R + 20, T + 14 + 16 * i, html_escape(m));
    ++i;
  }
  return s + "</svg>";
}

std::string curves_svg(const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& curves) {
  const double W = 640, H = 300, L = 60, R = 200, T = 20, B = 35;
  double xhi = 1, ylo = std::numeric_limits<double>::max(), yhi = -std::numeric_limits<double>::max();
  for (const auto& [n, pts] : curves)
    for (const auto& [x, y] : pts) {
      if (!std::isfinite(y)) continue;
      xhi = std::max(xhi, x);
      ylo = std::min(ylo, y);
      yhi = std::max(yhi, y);
    }
  if (curves.empty() || ylo > yhi) return "<p>No training curves.</p>";
  // Runs' losses differ by orders of magnitude: a log axis when every loss is positive.
  const bool logy = ylo > 0;
  auto fy = [logy](double y) { return logy ? std::log10(y) : y; };
  const Axis ax{0, xhi, L, W - R}, ayl{fy(ylo), fy(yhi), H - B, T};
  auto ay = [&](double y) { return ayl(fy(y)); };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"training loss\">"
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>",
      W, H, L, T, W - R - L, H - B - T);
  s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{:.3g}</text>", L - 5, T + 4, yhi);
  s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{:.3g}</text>", L - 5, H - B, ylo);
  s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">step (max {:.0f}); loss{}</text>",
                   (L + W - R) / 2, H - 8, xhi, logy ? ", log scale" : "");
  int i = 0;
  for (const auto& [name, pts] : curves) {
    const char* c = kColours[i % 8];
    std::string poly;
    // Every point would make the file large for long runs: at most ~400 per curve.
    const std::size_t stride = std::max<std::size_t>(1, pts.size() / 400);
    for (std::size_t k = 0; k < pts.size(); k += stride)
      if (std::isfinite(pts[k].second)) poly += fmt::format("{:.1f},{:.1f} ", ax(pts[k].first), ay(pts[k].second));
    s += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.2\" points=\"{}\"/>", c, poly);
    s += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{}\">{}</text>", W - R + 8, T + 12 + 15 * i, c,
                     html_escape(name));
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
                  ".note{color:#666;font-size:90%}"
                  "</style></head><body>\n";
  h += "<h1>" + html_escape(in.title) + "</h1>\n";
  h += "<p class=\"note\">FVD is lower-is-better; 95% intervals of the expected FVD at the row's N (bootstrap, reverse percentile about the bootstrap mean; FVD is biased by N, so rows compare only at equal N). NFE = network evaluations per clip, counted by "
       "the samplers. Every number below carries its provenance (expand the details).</p>\n";
  for (std::size_t ci = 0; ci < in.compares.size(); ++ci) {
    const auto& doc = in.compares[ci];
    const auto& rows = doc.at("rows");
    h += fmt::format("<h2>Comparison {}</h2>\n<table id=\"compare-{}\"><thead><tr><th class=\"l\">method</th>"
                     "<th class=\"l\">sampler</th><th>steps</th><th>cfg</th><th>NFE</th><th>FVD</th><th>95% CI</th>"
                     "<th>N</th><th>s/clip</th><th>clips/s</th><th>peak RSS MiB</th></tr></thead><tbody>\n",
                     ci + 1, ci);
    for (const auto& r : rows) {
      const std::string ciText =
          r.contains("ci") ? fmt::format("[{:.2f}, {:.2f}]", r["ci"]["low"].get<double>(), r["ci"]["high"].get<double>())
                           : "-";
      h += fmt::format("<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                       "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                       html_escape(r.at("method").get<std::string>()), html_escape(r.at("sampler").get<std::string>()),
                       r.at("steps").get<int>(), html_escape(cfg_text(r)), r.at("nfe").get<int64_t>(), num(r, "fvd"),
                       ciText, num(r, "n_fake", "{:.0f}"), num(r, "latency_s_per_clip", "{:.3f}"),
                       num(r, "clips_per_s"), num(r, "peak_rss_mib", "{:.0f}"));
    }
    h += "</tbody></table>\n";
    if (doc.contains("refused") && !doc["refused"].empty()) {
      h += "<p>Refused rows:</p><ul>";
      for (const auto& r : doc["refused"]) h += "<li>" + html_escape(r.get<std::string>()) + "</li>";
      h += "</ul>\n";
    }
    h += "<h3>FVD against NFE</h3>\n" + fvd_vs_nfe_svg(rows) + "\n";
    h += "<details><summary>Provenance of this comparison</summary><pre>" +
         html_escape(doc.value("provenance", nlohmann::json::object()).dump(2)) + "</pre>";
    for (const auto& r : rows)
      h += "<details><summary>" + html_escape(row_key(r)) + "</summary><pre>" + html_escape(r.dump(2)) +
           "</pre></details>";
    h += "</details>\n";
  }
  if (!in.videos.empty()) {
    h += "<h2>Samples (same first frames for every row)</h2>\n<table id=\"samples\"><thead><tr><th class=\"l\">row</th>";
    std::size_t n = 0;
    for (const auto& [k, v] : in.videos) n = std::max(n, v.size());
    for (std::size_t i = 0; i < n; ++i) h += fmt::format("<th>clip {}</th>", i);
    h += "</tr></thead><tbody>\n";
    for (const auto& [k, v] : in.videos) {
      h += "<tr><td class=\"l\">" + html_escape(k) + "</td>";
      for (const auto& bytes : v)
        h += "<td><video autoplay loop muted playsinline src=\"data:video/mp4;base64," + base64_encode(bytes) +
             "\"></video></td>";
      h += "</tr>\n";
    }
    h += "</tbody></table>\n";
  }
  for (const auto& a : in.ablations) {
    h += "<h2>" + html_escape(a.at("table").at("title").get<std::string>()) + "</h2>\n<pre>" +
         html_escape(a.value("markdown", "")) + "</pre>\n<details><summary>Provenance</summary><pre>" +
         html_escape(a.value("provenance", nlohmann::json::object()).dump(2)) + "</pre></details>\n";
  }
  h += "<h2>Training curves</h2>\n" + curves_svg(in.curves) + "\n";
  h += "</body></html>\n";
  return h;
}

}  // namespace osv
