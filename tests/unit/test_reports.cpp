// The regression gate's verdicts, the ablation summary's direction/significance columns and the
// HTML report's escaping and encoding, on hand-made results.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/sha256.h"
#include "harness/ablate.h"
#include "harness/regress.h"
#include "harness/rows.h"
#include "methods/api/registry.h"
#include "methods/svd/embedded.h"
#include "metrics/fvd/frechet.h"
#include "reports/html_report.h"

namespace osv {
namespace {

nlohmann::json row(const std::string& m, double fvd, double lo, double hi, int steps = 1) {
  return {{"method", m}, {"sampler", "consistency"}, {"steps", steps}, {"cfg", "none"}, {"nfe", steps},
          {"fvd", fvd}, {"ci", {{"low", lo}, {"high", hi}}}, {"n_fake", 64}};
}

TEST(Regress, ToleranceFromBothCisAndFloor) {
  // se = (hi - lo) / 3.92; allowed = max(0.02 * base, 1.96 * sqrt(se_b^2 + se_n^2))
  auto base = nlohmann::json::array({row("a", 100, 100 - 19.6, 100 + 19.6)});  // se 10
  auto same = nlohmann::json::array({row("a", 120, 120 - 19.6, 120 + 19.6)});  // +20, allowed 1.96*sqrt(200)=27.7
  auto worse = nlohmann::json::array({row("a", 130, 130 - 19.6, 130 + 19.6)});
  RegressOptions o;
  auto v = judge_regression(base, same, o);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_NEAR(v[0].allowed, 1.96 * std::sqrt(200.0), 1e-9);
  EXPECT_FALSE(v[0].regressed);
  EXPECT_TRUE(judge_regression(base, worse, o)[0].regressed);
  EXPECT_FALSE(any_regressed(judge_regression(base, nlohmann::json::array({row("a", 10, 9, 11)}), o)));  // better
  // Without CIs the relative floor applies.
  auto nb = nlohmann::json::array({{{"method", "a"}, {"sampler", "s"}, {"steps", 1}, {"cfg", 3.0}, {"fvd", 100.0}}});
  auto nn = nb;
  nn[0]["fvd"] = 101.9;
  EXPECT_FALSE(judge_regression(nb, nn, o)[0].regressed);
  nn[0]["fvd"] = 102.1;
  EXPECT_TRUE(judge_regression(nb, nn, o)[0].regressed);
  // A baseline row missing from the new run fails; NaN fails.
  auto missing = judge_regression(base, nlohmann::json::array({row("b", 1, 0, 2)}), o);
  EXPECT_TRUE(missing[0].missing && missing[0].regressed);
  EXPECT_TRUE(judge_regression(base, nlohmann::json::array({row("a", std::nan(""), 0, 1)}), o)[0].regressed);
  EXPECT_NE(regress_table(missing).find("MISSING"), std::string::npos);
}

TEST(Regress, OtherDetectorWeightsAreNotComparable) {
  auto base = nlohmann::json::array({row("a", 100, 90, 110)});
  base[0]["detector_sha256"] = std::string(64, 'a');
  auto same = nlohmann::json::array({row("a", 100, 90, 110)});
  same[0]["detector"] = {{"weights_sha256", std::string(64, 'a')}};
  RegressOptions o;
  EXPECT_FALSE(judge_regression(base, same, o)[0].regressed);
  auto other = same;
  other[0]["detector"]["weights_sha256"] = std::string(64, 'b');
  other[0]["fvd"] = 50.0;  // better, but measured by another detector
  const auto v = judge_regression(base, other, o);
  EXPECT_TRUE(v[0].regressed);
  EXPECT_EQ(v[0].detector_changed, "aaaaaaaaaaaa -> bbbbbbbbbbbb");
  EXPECT_NE(regress_table(v).find("DETECTOR CHANGED"), std::string::npos);
  // A baseline that does not record its detector is judged on FVD alone (older baselines).
  base[0].erase("detector_sha256");
  EXPECT_FALSE(judge_regression(base, other, o)[0].regressed);
}

// The gate names the first asset (in build order) whose bits differ from the baseline's.
TEST(Regress, FirstDifferingAssetIsNamed) {
  auto list = [](std::initializer_list<std::pair<const char*, char>> l) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& [name, c] : l) a.push_back({{"asset", name}, {"sha256", std::string(64, c)}});
    return a;
  };
  const auto base = list({{"data", 'a'}, {"detector", 'b'}, {"vae", 'c'}, {"teacher", 'd'}});
  EXPECT_EQ(first_differing_asset(judge_assets(base, base)), nullptr);
  const auto v = judge_assets(base, list({{"data", 'a'}, {"detector", 'b'}, {"vae", 'x'}, {"teacher", 'y'}}));
  const auto* first = first_differing_asset(v);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->asset, "vae");
  EXPECT_EQ(first->base_sha256, std::string(64, 'c'));
  EXPECT_EQ(first->new_sha256, std::string(64, 'x'));
  const auto t = asset_table(v);
  EXPECT_NE(t.find("| vae | cccccccccccccccc | xxxxxxxxxxxxxxxx | DIFFER |"), std::string::npos) << t;
  EXPECT_NE(t.find("| data | aaaaaaaaaaaaaaaa | aaaaaaaaaaaaaaaa | same |"), std::string::npos) << t;
  // An asset the baseline does not record is shown, not failed.
  const auto extra = judge_assets(base, list({{"data", 'a'}, {"sfv weights (unet)", 'z'}}));
  EXPECT_EQ(first_differing_asset(extra), nullptr);
  EXPECT_NE(asset_table(extra).find("not in baseline"), std::string::npos);
}

TEST(Ablate, DirectionsAndSignificance) {
  nlohmann::json table = {{"title", "t"}, {"reference", "ref"},
                          {"rows", {{{"label", "ref"}, {"paper_fvd", 171.15}},
                                    {{"label", "worse-agrees"}, {"paper_fvd", 232.25}},
                                    {{"label", "better-disagrees"}, {"paper_fvd", 300.0}},
                                    {{"label", "refused"}, {"paper_fvd", 200.0}}}}};
  std::vector<std::pair<std::string, nlohmann::json>> m = {
      {"ref", row("x", 100, 90, 110)}, {"worse-agrees", row("x", 150, 140, 160)}, {"better-disagrees", row("x", 95, 85, 105)}};
  auto lines = ablate_lines(table, m, {{"refused", "no such knob"}});
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].agrees, "-");
  EXPECT_EQ(lines[1].paper_direction, "worse");
  EXPECT_EQ(lines[1].measured_direction, "worse");
  EXPECT_EQ(lines[1].agrees, "yes");
  EXPECT_EQ(lines[1].significant, "yes");
  EXPECT_EQ(lines[2].measured_direction, "better");
  EXPECT_EQ(lines[2].agrees, "no");
  EXPECT_EQ(lines[2].significant, "no");  // 95 is inside the reference's CI
  EXPECT_EQ(lines[3].refused, "no such knob");
  const auto md = ablate_markdown(table, lines);
  EXPECT_NE(md.find("| worse-agrees | 150.00 | [140.00, 160.00] | 232.25 | worse | worse | yes | yes |"), std::string::npos) << md;
  EXPECT_NE(md.find("refused: refused: no such knob"), std::string::npos);
  // Every shipped table parses, names its reference among its rows and gives the paper's values
  // (curves: a reference series, and every other series the paper's direction against it).
  for (const auto& id : table_ids()) {
    const auto raw = load_table(id);
    if (raw.value("kind", "rows") == "cost") {  // fig3: discriminator paths, the paper's costs
      EXPECT_EQ(raw["rows"][0]["label"], raw["reference"]) << id;
      for (const auto& r : raw["rows"]) EXPECT_TRUE(r["paper_s_per_step"].is_number() || r["paper_peak_gb"].is_number());
      continue;
    }
    const bool curve = raw.value("kind", "rows") == "curve";
    const auto t = expand_table(raw, 400);
    bool has_ref = false;
    for (const auto& r : t["rows"]) {
      has_ref = has_ref || r["label"] == t["reference"] || r.value("reference", "") == r["label"];
      if (curve) EXPECT_TRUE(r["series"] == t["reference"] || r["paper_direction"] != "-") << id;
      // a row without the paper's value says why (the ledger's alternatives, a second reading)
      else EXPECT_TRUE(r["paper_fvd"].is_number() || r.value("note", "") != "") << id << " " << r["label"];
    }
    EXPECT_TRUE(has_ref) << id;
  }
}

TEST(Ablate, EveryPairOfRowsAgainstThePapersOrder) {
  // Paper order: a (100) < b (200) < c (300) < d (400); e has no paper value, f no interval.
  nlohmann::json table = {{"title", "t"}, {"reference", "a"},
                          {"rows", {{{"label", "a"}, {"paper_fvd", 100.0}},
                                    {{"label", "b"}, {"paper_fvd", 200.0}},
                                    {{"label", "c"}, {"paper_fvd", 300.0}},
                                    {{"label", "d"}, {"paper_fvd", 400.0}},
                                    {{"label", "e"}, {"paper_fvd", nullptr}},
                                    {{"label", "f"}, {"paper_fvd", 500.0}}}}};
  auto no_ci = row("x", 1, 0, 2);
  no_ci.erase("ci");
  std::vector<std::pair<std::string, nlohmann::json>> m = {
      {"a", row("x", 10, 8, 12)},    // a < b, a < c outside the noise; a vs d: reversed, outside
      {"b", row("x", 20, 18, 22)},   // b vs c: reversed within (19 is inside b's CI, 20 inside c's)
      {"c", row("x", 19, 15, 25)},   // c vs d: reversed outside (5 is outside c's CI, 19 outside d's)
      {"d", row("x", 5, 4, 6)},      // b vs d: reversed outside
      {"e", row("x", 1, 0, 2)},
      {"f", no_ci}};
  const auto lines = ablate_lines(table, m, {});
  const auto p = pairwise_order(lines);
  ASSERT_EQ(p.pairs.size(), 6u);  // a, b, c, d: 4 choose 2; e and f left out
  EXPECT_EQ(p.in_order_outside, 2);  // a<b, a<c
  EXPECT_EQ(p.in_order_within, 0);
  EXPECT_EQ(p.reversed_within, 1);   // b vs c
  EXPECT_EQ(p.reversed_outside, 3);  // a vs d, b vs d, c vs d
  for (const auto& q : p.pairs)
    if (q.better == "b" && q.worse == "c") {
      EXPECT_FALSE(q.in_order);
      EXPECT_FALSE(q.outside_noise);
    }
  const auto s = pairwise_sentence(p);
  EXPECT_NE(s.find("6 pairs"), std::string::npos) << s;
  EXPECT_NE(s.find("2 in the paper's order outside the noise, 0 in its order within the noise, 1 reversed within the "
                   "noise, 3 reversed outside the noise"),
            std::string::npos) << s;
  EXPECT_NE(s.find("a (10.00) vs d (5.00); b (20.00) vs d (5.00); c (19.00) vs d (5.00)"), std::string::npos) << s;
  EXPECT_NE(ablate_markdown(table, lines).find(s), std::string::npos);
  // The report's summary says it too.
  nlohmann::json doc = {{"table", table}, {"measured", nlohmann::json::array()}, {"refused", nlohmann::json::array()}};
  for (const auto& [l, r] : m) doc["measured"].push_back({{"label", l}, {"result", r}});
  ReportInputs in;
  in.ablations.push_back(doc);
  EXPECT_NE(render_html_report(in).find("3 reversed outside the noise"), std::string::npos);
  // Two rows make one pair: the reference column already says it, no sentence.
  EXPECT_EQ(pairwise_sentence(pairwise_order(ablate_lines(table, {m[0], m[1]}, {}))), "");
}

TEST(Ablate, CurvesCompareSeriesAtTheSamePoint) {
  nlohmann::json table = {{"kind", "curve"}, {"title", "t"}, {"reference", "a"}, {"scale_key", "k"},
                          {"points", {0.25, 1.0}},
                          {"series", {{{"label", "a"}, {"x_key", "ka"}, {"overrides", {"o=1"}}},
                                      {{"label", "b"}, {"x_key", "kb"}, {"overrides", nlohmann::json::array()},
                                       {"paper_vs_reference", "better"}}}}};
  const auto t = expand_table(table, 10);  // points 0.25 x 10 -> 3 (rounded), 1.0 x 10 -> 10
  ASSERT_EQ(t["rows"].size(), 4u);
  EXPECT_EQ(t["rows"][0]["label"], "a @ 3");
  EXPECT_EQ(t["rows"][0]["overrides"], nlohmann::json({"o=1", "ka=3"}));
  EXPECT_EQ(t["rows"][1]["label"], "b @ 3");
  EXPECT_EQ(t["rows"][1]["overrides"], nlohmann::json({"kb=3"}));
  EXPECT_EQ(t["rows"][3]["reference"], "a @ 10");
  auto worse = row("x", 150, 140, 160);
  worse["train_s"] = 42.0;
  std::vector<std::pair<std::string, nlohmann::json>> m = {
      {"a @ 3", row("x", 200, 190, 210)}, {"b @ 3", row("x", 100, 90, 110)},
      {"a @ 10", row("x", 100, 95, 105)}, {"b @ 10", worse}};
  const auto lines = ablate_lines(t, m, {});
  EXPECT_EQ(lines[1].measured_direction, "better");  // against a @ 3, not a @ 10
  EXPECT_EQ(lines[1].agrees, "yes");
  EXPECT_EQ(lines[1].significant, "yes");
  EXPECT_EQ(lines[3].measured_direction, "worse");
  EXPECT_EQ(lines[3].agrees, "no");
  EXPECT_EQ(lines[0].paper_direction, "-");
  const auto md = ablate_markdown(t, lines);
  EXPECT_NE(md.find("| b @ 10 | 10 | 42.0 | 150.00 | [140.00, 160.00] | - | better | worse | no | yes |"),
            std::string::npos) << md;
}

TEST(Report, VerdictsAgainstThePaper) {
  nlohmann::json table = {{"title", "Table x"}, {"reference", "ref"},
                          {"rows", {{{"label", "ref"}, {"paper_fvd", 100.0}},
                                    {{"label", "far"}, {"paper_fvd", 200.0}},     // paper: worse
                                    {{"label", "near"}, {"paper_fvd", 150.0}},    // paper: worse
                                    {{"label", "flip"}, {"paper_fvd", 50.0}},     // paper: better
                                    {{"label", "flipnear"}, {"paper_fvd", 60.0}}, // paper: better
                                    {{"label", "nopaper"}, {"paper_fvd", nullptr}},
                                    {{"label", "gone"}, {"paper_fvd", 120.0}}}}};
  nlohmann::json doc = {{"table", table},
                        {"measured", {{{"label", "ref"}, {"result", row("x", 100, 95, 105)}},
                                      {{"label", "far"}, {"result", row("x", 300, 290, 310)}},
                                      {{"label", "near"}, {"result", row("x", 103, 90, 115)}},
                                      {{"label", "flip"}, {"result", row("x", 300, 290, 310)}},
                                      {{"label", "flipnear"}, {"result", row("x", 103, 90, 115)}},
                                      {{"label", "nopaper"}, {"result", row("x", 300, 290, 310)}}}},
                        {"refused", {{{"label", "gone"}, {"reason", "no such knob"}}}}};
  const auto lines = ablate_lines(doc);
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(ablation_verdict(lines[0]), "reference");
  EXPECT_EQ(ablation_verdict(lines[1]), "reproduced");
  EXPECT_EQ(ablation_verdict(lines[2]), "same direction, within noise");
  EXPECT_EQ(ablation_verdict(lines[3]), "not reproduced");
  EXPECT_EQ(ablation_verdict(lines[4]), "opposite, within noise");
  EXPECT_EQ(ablation_verdict(lines[5]), "no paper value");
  EXPECT_EQ(ablation_verdict(lines[6]), "refused");
  ReportInputs in;
  in.ablations.push_back(doc);
  const auto html = render_html_report(in);
  EXPECT_NE(html.find("<table id=\"ablation-0\""), std::string::npos);
  EXPECT_NE(html.find("<span class=\"badge ok\">reproduced</span>"), std::string::npos);
  EXPECT_NE(html.find("<span class=\"badge bad\">not reproduced</span>"), std::string::npos);
  // The summary counts the table's rows by verdict: 1 reproduced, 1 within noise each way, 1 not,
  // 1 refused; 4 rows with a paper direction were measured; the row without a paper value is
  // counted apart, with whether it moved outside the noise (300 [290, 310] against 100 [95, 105]).
  EXPECT_NE(html.find("<td class=\"l\">Table x</td><td>1</td><td>1</td><td>1</td><td>1</td><td>1</td>"
                      "<td>1 (1 outside the noise)</td></tr>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("Of the 4 measured rows with a direction in the paper, <b>1</b>"), std::string::npos);
  // Without the reference's FVD, or without intervals, the direction cannot be judged against the noise.
  auto no_ref = doc;
  no_ref["measured"][0]["result"]["fvd"] = nullptr;  // a NaN FVD is stored as null
  EXPECT_EQ(ablation_verdict(ablate_lines(no_ref)[1]), "reference not measured");
  auto no_ci = doc;
  for (auto& m : no_ci["measured"]) m["result"].erase("ci");
  EXPECT_EQ(ablation_verdict(ablate_lines(no_ci)[1]), "same direction, no CI");
  EXPECT_EQ(ablation_verdict(ablate_lines(no_ci)[3]), "opposite, no CI");
  ReportInputs bad;
  bad.ablations.push_back(no_ref);
  auto r = row("x", 1, 0, 2);
  r["fvd"] = nullptr;
  bad.compares.push_back({{"schema", "osvbench.compare/1"}, {"rows", {r}}});
  EXPECT_NE(render_html_report(bad).find("</html>"), std::string::npos);  // rendered, not thrown
}

TEST(Report, ParetoFrontSamplesPerFirstFrameAndCurvesPerKindOfRun) {
  ReportInputs in;
  auto a = row("a", 500, 450, 550, 1), b = row("b", 300, 280, 320, 2), c = row("c", 350, 330, 370, 4),
       d = row("d", 200, 190, 210, 8);
  in.compares.push_back({{"schema", "osvbench.compare/1"}, {"rows", {a, b, c, d}}});
  in.videos.push_back({"a consistency 1 cfg none", {"v0", "v1"}});
  in.videos.push_back({"b consistency 2 cfg none", {"w0", "w1"}});
  in.curves.push_back({"osv-stage2-fa53e28056b6", {{0, 1.0}, {1, 0.5}}});
  in.curves.push_back({"osv-stage2-0aa9bbef9352", {{0, 2.0}, {1, 0.7}}});
  in.curves.push_back({"assets/svd-embedded-9dd2176a5443/train/vae", {{0, 1.0}, {1, 0.9}}});
  const auto html = render_html_report(in);
  // c (NFE 4, FVD 350) is beaten by b (NFE 2, FVD 300): not on the front.
  const auto p = html.find("Pareto front of FVD against NFE");
  ASSERT_NE(p, std::string::npos);
  const auto para = html.substr(p, html.find("</p>", p) - p);
  EXPECT_NE(para.find("<b>a consistency 1 cfg none</b>"), std::string::npos) << para;
  EXPECT_NE(para.find("<b>b consistency 2 cfg none</b>"), std::string::npos) << para;
  EXPECT_NE(para.find("<b>d consistency 8 cfg none</b>"), std::string::npos) << para;
  EXPECT_EQ(para.find("<b>c consistency"), std::string::npos) << para;
  EXPECT_NE(html.find("<h2>Compare: a, b, c, d · steps 1, 2, 4, 8 · 64 clips</h2>"), std::string::npos);
  // Samples: a line per first frame, the rows side by side.
  const auto s = html.substr(html.find("<table id=\"samples\""));
  EXPECT_LT(s.find(base64_encode("v0")), s.find(base64_encode("w0")));
  EXPECT_LT(s.find(base64_encode("w0")), s.find(base64_encode("v1")));
  // Curves: one chart per kind of run.
  EXPECT_NE(html.find("<figcaption>OSV stage 2 (2 runs)</figcaption>"), std::string::npos);
  EXPECT_NE(html.find("<figcaption>embedded VAE (1 run)</figcaption>"), std::string::npos);
}

// A series ("method sampler") has one colour in both charts, though the cost chart leaves out the
// rows without a training cost (before, colours went by order of appearance in each chart, so the
// cost chart, lacking the teacher, drew OSV in the teacher's colour).
TEST(Report, ASeriesKeepsItsColourAcrossCharts) {
  auto a = row("a", 500, 450, 550, 1), b = row("b", 300, 280, 320, 2), c = row("c", 200, 190, 210, 4);
  b["train_s"] = 100.0;
  c["train_s"] = 1000.0;
  ReportInputs in;
  in.compares.push_back({{"schema", "osvbench.compare/1"}, {"rows", {a, b, c}}});
  const auto html = render_html_report(in);
  // The fill of the point whose tooltip names `key`, inside the chart labelled `aria`.
  auto fill = [&](const std::string& aria, const std::string& key) {
    const auto chart = html.find("aria-label=\"" + aria + "\"");
    EXPECT_NE(chart, std::string::npos) << aria;
    const auto title = html.find("<title>" + key, chart);
    EXPECT_LT(title, html.find("</svg>", chart)) << aria << ": no point " << key;
    const auto f = html.rfind("fill=\"", title);
    return html.substr(f + 6, html.find('"', f + 6) - f - 6);
  };
  for (const std::string key : {"b consistency 2", "c consistency 4"})
    EXPECT_EQ(fill("FVD against NFE", key), fill("FVD against training cost", key)) << key;
  EXPECT_NE(fill("FVD against NFE", "a consistency 1"), fill("FVD against NFE", "b consistency 2"));
  EXPECT_NE(fill("FVD against NFE", "b consistency 2"), fill("FVD against NFE", "c consistency 4"));
  const auto by_name = series_colours(nlohmann::json::array({c, a, b}));
  EXPECT_EQ(by_name.at("a consistency"), 0);
  EXPECT_EQ(by_name.at("c consistency"), 2);
}

TEST(Report, EscapesDataAndEncodesVideos) {
  EXPECT_EQ(html_escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  ReportInputs in;
  auto r = row("<script>alert(1)</script>", 120, 100, 140);
  in.compares.push_back({{"schema", "osvbench.compare/1"}, {"rows", {r}}, {"refused", {"x <b>"}},
                         {"provenance", {{"note", "</pre><script>"}}}});
  in.videos.push_back({"<script>alert(1)</script> consistency 1 cfg none", {"foo"}});
  in.curves.push_back({"run<1>", {{0, 1.0}, {1, 0.5}}});
  const auto html = render_html_report(in);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("data:video/mp4;base64,Zm9v"), std::string::npos);
  EXPECT_NE(html.find("x &lt;b&gt;"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("http://") , html.find("http://www.w3.org/2000/svg"));  // no network references
}

}  // namespace
}  // namespace osv

// A cached row that cannot be trusted (torn JSON, null or NaN FVD, a CI by the old interval) is
// measured again, not a crash.
TEST(Regress, UntrustedCachedRowsAreMeasuredAgain) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "osvbench_test_cached_row";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto put = [&](const std::string& text) {
    std::ofstream(dir / "row.json") << text;
    return osv::read_cached_row(dir / "row.json");
  };
  EXPECT_TRUE(osv::read_cached_row(dir / "missing.json").is_null());
  EXPECT_TRUE(put("{\"fvd\": 12.5, \"meth").is_null());
  EXPECT_TRUE(put("{\"fvd\": null}").is_null());
  EXPECT_TRUE(put("{\"fvd\": NaN}").is_null());
  EXPECT_TRUE(put("[1, 2]").is_null());
  const auto ok = put("{\"fvd\": 12.5, \"method\": \"teacher\"}");
  ASSERT_FALSE(ok.is_null());
  EXPECT_EQ(ok["fvd"].get<double>(), 12.5);
  // A CI by the old percentile interval (no ci.interval) is not trusted; the current one is.
  EXPECT_TRUE(put("{\"fvd\": 12.5, \"ci\": {\"low\": 13, \"high\": 14}}").is_null());
  EXPECT_FALSE(put("{\"fvd\": 12.5, \"ci\": {\"low\": 11, \"high\": 14, \"interval\": \"" +
                   std::string(osv::kFvdIntervalMethod) + "\"}}").is_null());
  fs::remove_all(dir);
}

namespace osv {
namespace {

// Rows are keyed by what their measurement read: a knob the row never read (or a new config key)
// keeps the row, a knob it read measures it again, and so does another detector.
TEST(RowCache, KeyedByWhatTheRowRead) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "osvbench_test_row_cache";
  fs::remove_all(dir);
  const Config c = Config::resolve("tiny", {"method=teacher", "sample.steps=2"});
  const std::set<std::string> reads = {"method", "sample.steps", "sample.cfg_max", "run.root", "preset"};
  EXPECT_EQ(RowCache::key_set(reads), (std::set<std::string>{"method", "sample.cfg_max", "sample.steps"}));
  {
    RowCache cache(dir);
    EXPECT_TRUE(cache.lookup(c, "det-a").is_null());
    const auto pending = cache.pending();
    std::ofstream(pending / "clip.mp4") << "x";
    const auto stored = cache.store(c, "det-a", reads, {{"fvd", 42.0}, {"method", "teacher"}}, pending);
    EXPECT_TRUE(fs::exists(stored / "clip.mp4"));
    EXPECT_FALSE(fs::exists(pending));
  }
  RowCache cache(dir);  // the key sets persist
  fs::path where;
  const auto hit = cache.lookup(Config::resolve("tiny", {"method=teacher", "sample.steps=2", "sfv.iters=77",
                                                         "run.root=/elsewhere"}),
                                "det-a", &where);
  ASSERT_FALSE(hit.is_null());
  EXPECT_EQ(hit["fvd"].get<double>(), 42.0);
  EXPECT_EQ(hit["row_key"]["reads"].size(), 3u);
  EXPECT_TRUE(cache.lookup(Config::resolve("tiny", {"method=teacher", "sample.steps=4"}), "det-a").is_null());
  EXPECT_TRUE(cache.lookup(c, "det-b").is_null());
  // A row under the previous scheme (whole config hash + detector) is still found.
  const auto legacy = dir / sha256_hex(c.hash() + ":det-c").substr(0, 16);
  fs::create_directories(legacy);
  std::ofstream(legacy / "row.json") << "{\"fvd\": 7.0}";
  EXPECT_EQ(cache.lookup(c, "det-c")["fvd"].get<double>(), 7.0);
  fs::remove_all(dir);
}

// A row records the sha256 of the weights it sampled; replacing that file in place (same path, same
// config) makes the cached row untrusted, so it is measured again.
TEST(RowCache, ReplacedWeightsAreMeasuredAgain) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "osvbench_test_row_cache_weights";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path weights = dir / "unet.safetensors";
  std::ofstream(weights) << "first weights";
  const Config c = Config::resolve("tiny", {"method=sfv"});
  RowCache cache(dir / "rows");
  const auto stored = cache.store(c, "det", {"method"},
                                  {{"fvd", 5.0}, {"method", "sfv"}, {"weights", "unet:" + weights.string()}}, fs::path());
  const auto row = cache.lookup(c, "det");
  ASSERT_FALSE(row.is_null());
  EXPECT_EQ(row["weights_sha256"].get<std::string>(), sha256_file(weights));
  std::ofstream(weights) << "other weights, same path";
  EXPECT_TRUE(cache.lookup(c, "det").is_null());
  // A weights path that no longer exists is not a reason to distrust the row (nothing to compare).
  fs::remove(weights);
  EXPECT_FALSE(cache.lookup(c, "det").is_null());
  fs::remove_all(dir);
}

// A training recipe changed in code (its stage keys' version bumped, no config key to show it) must
// measure that method's rows again: their old weights still exist and their key sets still match.
// The row key carries the method's recipe tags, so the bump reaches its rows and no other method's.
TEST(RowCache, ARecipeBumpMeasuresOnlyThatMethodsRowsAgain) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "osvbench_test_row_cache_recipe";
  fs::remove_all(dir);
  std::map<std::string, nlohmann::json> tags = {{"osv", {"osv-stage1-4", "osv-stage2-4"}}, {"sfv", {"sfv-2"}}};
  RowCache cache(dir, [&](const Config& c) { return tags.at(c.get<std::string>("method")); });
  const Config osv_cfg = Config::resolve("tiny", {"method=osv"});
  const Config sfv_cfg = Config::resolve("tiny", {"method=sfv"});
  cache.store(osv_cfg, "det", {"method", "sample.steps"}, {{"fvd", 1.0}}, fs::path());
  cache.store(sfv_cfg, "det", {"method", "sample.steps"}, {{"fvd", 2.0}}, fs::path());
  const auto osv_row = cache.lookup(osv_cfg, "det");
  ASSERT_FALSE(osv_row.is_null());
  EXPECT_EQ(osv_row["row_key"]["recipe"], tags["osv"]);  // the row says which recipe trained its weights
  ASSERT_FALSE(cache.lookup(sfv_cfg, "det").is_null());
  tags["osv"] = {"osv-stage1-5", "osv-stage2-4"};
  EXPECT_TRUE(cache.lookup(osv_cfg, "det").is_null());
  ASSERT_FALSE(cache.lookup(sfv_cfg, "det").is_null());
  EXPECT_EQ(cache.lookup(sfv_cfg, "det")["fvd"].get<double>(), 2.0);
  fs::remove_all(dir);
}

// Every method that trains weights of its own declares the recipe tags its rows are keyed by, and
// the default recipe of a row is its method's tags followed by the embedded models' tags.
TEST(RowCache, EveryTrainedMethodDeclaresItsRecipe) {
  const auto osv_recipe = RowCache::recipe_of(Config::resolve("tiny", {"method=osv"}));
  auto& registry = MethodRegistry::instance();  // recipe_of registered the built-in methods
  for (const auto& name : registry.names()) {
    const auto& m = registry.get(name);
    if (!m.budget_keys.empty()) {
      EXPECT_FALSE(m.recipe.empty()) << name << " trains weights but declares no recipe";
    }
    nlohmann::json expected = m.recipe;
    for (const auto& tag : embedded_svd_recipe()) expected.push_back(tag);
    EXPECT_EQ(RowCache::recipe_of(Config::resolve("tiny", {"method=" + name})), expected) << name;
  }
  EXPECT_NE(osv_recipe, RowCache::recipe_of(Config::resolve("tiny", {"method=sfv"})));
  // A cache built without a recipe function keys and records rows by recipe_of.
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "osvbench_test_row_cache_default_recipe";
  fs::remove_all(dir);
  const Config c = Config::resolve("tiny", {"method=osv"});
  RowCache cache(dir);
  const auto stored = cache.store(c, "det", {"method"}, {{"fvd", 3.0}}, fs::path());
  EXPECT_EQ(stored.filename().string(), "k-" + RowCache::key(c, "det", {"method"}, osv_recipe));
  EXPECT_EQ(cache.lookup(c, "det")["row_key"]["recipe"], osv_recipe);
  fs::remove_all(dir);
}

TEST(Report, FloorsShowTheReconstructionAndTheRealVsRealFvd) {
  ReportInputs in;
  nlohmann::json r = row("vae", 52.29, 41.47, 63.26, 0);
  r["sampler"] = "reconstruction";
  r["pixel_mse"] = 0.0078;
  r["ratio_to_floor"] = 10.07;
  r["floor"] = {{"what", "training clips vs the held-out clips"}, {"fvd", 5.19}, {"n_fake", 256},
                {"ci", {{"low", -0.37}, {"high", 8.66}}}};
  in.reconstructions.push_back({{"schema", "osvbench.reconstruct/1"}, {"row", r}});
  const auto html = render_html_report(in);
  const auto p = html.find("<table id=\"floors\">");
  ASSERT_NE(p, std::string::npos) << html;
  const auto table = html.substr(p, html.find("</table>", p) - p);
  EXPECT_NE(table.find("<td>52.29</td><td>[41.47, 63.26]</td>"), std::string::npos) << table;
  EXPECT_NE(table.find("<td>0.00780</td><td>10.07</td>"), std::string::npos) << table;
  EXPECT_NE(table.find("training clips vs the held-out clips</td><td>5.19</td><td>[-0.37, 8.66]</td><td>256</td>"),
            std::string::npos)
      << table;
  // Without a reconstruction there is no floors section.
  EXPECT_EQ(render_html_report(ReportInputs{}).find("id=\"floors\""), std::string::npos);
}

}  // namespace
}  // namespace osv
