// What users run on top of the methods: the FVD regression gate against the committed tiny
// baseline (a clean rerun passes, a planted fault fails it), `ablate` printing measured vs paper
// columns, and `report` producing a self-contained HTML file that headless Chromium renders with
// the comparison table and every row's sample videos (a screenshot is saved next to the test).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "datasets/video_backend.h"
#include "tests/e2e/e2e_util.h"

namespace osv {
namespace {
namespace fs = std::filesystem;
using e2e::run;

// The tiny gate's baselines: regress_tiny.json (written on an AMD EPYC, AVX2) and one file per
// other machine class whose bits are known (regress_tiny.<machine>.json), as scripts/test.sh tries them.
std::vector<fs::path> gate_baselines() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(OSVBENCH_SOURCE_DIR) / "tests" / "baselines")) {
    const auto name = e.path().filename().string();
    if (name.rfind("regress_tiny", 0) == 0 && e.path().extension() == ".json") out.push_back(e.path());
  }
  // regress_tiny.json first, then the machine classes by name
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
    const bool pa = a.filename() == "regress_tiny.json", pb = b.filename() == "regress_tiny.json";
    return pa != pb ? pa : a < b;
  });
  return out;
}

TEST(HarnessCli, RegressionGatePassesCleanAndCatchesAPlantedFault) {
  if (!video_backend_info().available) GTEST_SKIP() << "built without FFmpeg";
  const auto baselines = gate_baselines();
  ASSERT_FALSE(baselines.empty());
  EXPECT_EQ(baselines.front().filename(), "regress_tiny.json");
  const auto dir = fs::temp_directory_path() / "osvbench_test_regress";
  fs::remove_all(dir);
  // One call with every machine class's baseline: the first whose assets this machine reproduces
  // judges (the runs folder is shared, so the models are trained once and every later try reuses them).
  std::string all;
  for (const auto& b : baselines) all += " --baseline " + b.string();
  auto [code, out] = run("regress" + all + " --runs " + dir.string());
  fs::path baseline;
  for (const auto& b : baselines)
    if (out.find("judged against " + b.string()) != std::string::npos) baseline = b;
  if (code == kExitNotComparable) {
    // This machine trains the tiny assets to other bits than every baseline's writer: the gate says so,
    // naming the first asset and both hashes, and exits 5 (not a regression); nothing below can be judged.
    EXPECT_NE(out.find("ASSET BITS DIFFER: '"), std::string::npos) << out;
    EXPECT_NE(out.find("NOT COMPARABLE with any baseline"), std::string::npos) << out;
    EXPECT_EQ(out.find("REGRESSION: at least one row"), std::string::npos) << out;
    GTEST_SKIP() << "this machine computes other bits than every baseline's; the gate cannot judge here:\n"
                 << out.substr(out.find("ASSET BITS DIFFER"));
  }
  ASSERT_FALSE(baseline.empty()) << out;
  // What the judging baseline's own section printed (the tables below are checked on it).
  // (with one baseline there is no section header: the whole output is its section)
  if (const auto at = out.rfind("== baseline " + baseline.string()); at != std::string::npos) out = out.substr(at);
  const std::string common = "--baseline " + baseline.string() + " --runs " + dir.string();
  EXPECT_EQ(code, 0) << baseline << "\n" << out;
  EXPECT_NE(out.find("no regression"), std::string::npos) << out;
  // Every asset is the baseline's bits (the cross-machine check: a CPU that computes other bits
  // exits 5 above, naming the asset), and a baseline whose VAE is other bits is not comparable.
  EXPECT_EQ(out.find("| DIFFER |"), std::string::npos) << out;
  for (const char* a : {"| data | ", "| detector | ", "| vae | ", "| image_encoder | ", "| teacher | "})
    EXPECT_NE(out.find(a), std::string::npos) << a << "\n" << out;
  {
    auto doc = nlohmann::json::parse(read_file(baseline));
    for (auto& a : doc["assets"])
      if (a["asset"] == "vae") a["sha256"] = std::string(64, '0');
    atomic_write(dir / "tampered.json", doc.dump(2));
    auto [ct, ot] = run("regress --baseline " + (dir / "tampered.json").string() + " --runs " + dir.string());
    EXPECT_EQ(ct, kExitNotComparable) << ot;
    EXPECT_NE(ot.find("ASSET BITS DIFFER: 'vae' is "), std::string::npos) << ot;
    EXPECT_NE(ot.find("NOT COMPARABLE"), std::string::npos) << ot;
    EXPECT_EQ(ot.find("REGRESSION: at least one row"), std::string::npos) << ot;
  }
  // The planted bug: every decoded video black (the models are cached by now).
  auto [code2, out2] = run("regress " + common + " debug.fault=black_video");
  EXPECT_EQ(code2, 1) << out2;
  EXPECT_NE(out2.find("REGRESSED"), std::string::npos) << out2;
  EXPECT_NE(out2.find("REGRESSION: at least one row"), std::string::npos) << out2;
  // A missing baseline is a clear input error, not a silent pass.
  auto [code3, out3] = run("regress --baseline " + (dir / "none.json").string() + " --runs " + dir.string());
  EXPECT_EQ(code3, 4) << out3;
  EXPECT_NE(out3.find("create it with --update"), std::string::npos) << out3;
}

TEST(HarnessCli, AblateAndHtmlReportInChromium) {
  if (!video_backend_info().available) GTEST_SKIP() << "built without FFmpeg";
  const auto dir = fs::temp_directory_path() / "osvbench_test_report";
  fs::remove_all(dir);
  const std::string common = "--preset tiny --runs " + dir.string();
  auto [c1, o1] = run("ablate --table 2e " + common);
  ASSERT_EQ(c1, 0) << o1;
  EXPECT_NE(o1.find("| VAE decoder | "), std::string::npos) << o1;
  EXPECT_NE(o1.find("| 232.25 | worse |"), std::string::npos) << o1;  // the paper's value and direction
  // A figure's curves: both series at 1/4, 1/2 and all of the stage-2 iterations (4 here), each point
  // with the training time of its run and compared with the reference series at the same point.
  auto [cf, of] = run("ablate --table fig5 " + common + " osv.stage2_iters=4");
  ASSERT_EQ(cf, 0) << of;
  for (const char* r : {"| m = 1 @ 1 | 1 | ", "| m = 5 @ 2 | 2 | ", "| m = 5 @ 4 | 4 | "})
    EXPECT_NE(of.find(r), std::string::npos) << r << "\n" << of;
  EXPECT_NE(of.find("Paper: m = 5 reaches a lower FVD"), std::string::npos) << of;
  EXPECT_EQ(of.find("| m = 5 @ 4 | 4 | - |"), std::string::npos) << "no training time: " << of;
  // Figure 3: every discriminator path's step cost, measured, next to the paper's.
  auto [c3f, o3f] = run("ablate --table fig3 " + common);
  ASSERT_EQ(c3f, 0) << o3f;
  EXPECT_NE(o3f.find("| upsampler (OSV) | "), std::string::npos) << o3f;
  EXPECT_NE(o3f.find("| 1.00x | "), std::string::npos) << o3f;
  EXPECT_NE(o3f.find("| 4.29 | 1.64x |"), std::string::npos) << o3f;  // the paper's decoder/upsampler time
  EXPECT_NE(o3f.find("| 73.50 | 2.05x |"), std::string::npos) << o3f;  // the paper's SF-V/OSV memory
  auto [c2, o2] = run("compare --methods teacher,osv --steps 1 --samplers euler,consistency " + common + " --out " +
                      (dir / "compare-1").string());
  ASSERT_EQ(c2, 0) << o2;
  // Rows are cached by config hash: the OSV 1-step row was not in 2e (TTS), the teacher's neither;
  // a second compare measures nothing again and prints the same table.
  // --format is honoured: md and jsonl only.
  auto [c2b, o2b] = run("compare --methods teacher,osv --steps 1 --samplers euler,consistency --format md,jsonl " +
                        common + " --out " + (dir / "compare-2").string());
  ASSERT_EQ(c2b, 0) << o2b;
  EXPECT_NE(o2b.find("measured before"), std::string::npos) << o2b;
  EXPECT_TRUE(fs::exists(dir / "compare-2" / "results.md"));
  EXPECT_TRUE(fs::exists(dir / "compare-2" / "results.jsonl"));
  EXPECT_FALSE(fs::exists(dir / "compare-2" / "results.json"));
  EXPECT_FALSE(fs::exists(dir / "compare-2" / "report.html"));
  // Every field a real row carries is in the documented example (reports/examples/compare.json,
  // whose fields a unit test finds in reports/README.md).
  const auto example = nlohmann::json::parse(
      read_file(fs::path(OSVBENCH_SOURCE_DIR) / "reports" / "examples" / "compare.json"))["rows"][0];
  const auto real = nlohmann::json::parse(read_file(dir / "compare-1" / "results.json"))["rows"];
  ASSERT_FALSE(real.empty());
  for (const auto& r : real)
    for (const auto& [key, v] : r.items()) EXPECT_TRUE(example.contains(key)) << "undocumented row field " << key;
  auto table = [](const std::string& o) {
    std::string t;
    std::size_t p = 0;
    while ((p = o.find("\n| ", p)) != std::string::npos) {
      const auto e = o.find('\n', p + 1);
      t += o.substr(p, e - p);
      p = e;
    }
    return t;
  };
  EXPECT_FALSE(table(o2).empty());
  EXPECT_EQ(table(o2b), table(o2));
  auto [c3, o3] = run("report " + common + " --out " + (dir / "report.html").string());
  ASSERT_EQ(c3, 0) << o3;
  const auto html = read_file(dir / "report.html");
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // self-contained
  // Headless Chromium renders it: the table and one <video> per sample are in the DOM.
  ASSERT_EQ(std::system("command -v chromium >/dev/null 2>&1"), 0)
      << "chromium is not installed (scripts/setup.sh installs Debian's chromium)";
  const std::string flags = "--headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1300,1600 ";
  const auto dom = dir / "dom.html";
  ASSERT_EQ(std::system(("chromium " + flags + "--dump-dom file://" + (dir / "report.html").string() + " > " +
                         dom.string() + " 2>/dev/null").c_str()),
            0);
  const auto d = read_file(dom);
  EXPECT_NE(d.find("<table id=\"compare-0\""), std::string::npos);
  EXPECT_NE(d.find("<td class=\"l\">teacher</td>"), std::string::npos);
  EXPECT_NE(d.find("<td class=\"l\">osv</td>"), std::string::npos);
  EXPECT_NE(d.find("Table 2e"), std::string::npos);
  EXPECT_NE(d.find("<table id=\"summary-claims\""), std::string::npos);  // the summary of the paper's claims
  EXPECT_NE(d.find("<table id=\"ablation-0\""), std::string::npos);      // ablations as tables, with verdicts
  EXPECT_NE(d.find("class=\"badge "), std::string::npos);
  EXPECT_NE(d.find("Pareto front"), std::string::npos);
  EXPECT_NE(d.find("<div class=\"grid\" id=\"curves\">"), std::string::npos);  // curves as small multiples
  std::size_t videos = 0;
  for (auto p = d.find("<video"); p != std::string::npos; p = d.find("<video", p + 1)) ++videos;
  EXPECT_GE(videos, 2u * 4u);  // 2 rows x 4 clips of the same first frames
  const auto shot = fs::current_path() / "report_screenshot.png";
  fs::remove(shot);
  ASSERT_EQ(std::system(("chromium " + flags + "--screenshot=" + shot.string() + " file://" +
                         (dir / "report.html").string() + " >/dev/null 2>&1").c_str()),
            0);
  EXPECT_GT(fs::file_size(shot), 10000u);
}

}  // namespace
}  // namespace osv

namespace osv {
namespace {

// Two processes running the same tiny compare on one fresh runs folder: both succeed, the run is
// trained once, the rows are measured once, and both print the same FVD.
TEST(HarnessCli, ConcurrentComparesShareOneTrainingAndOneMeasurement) {
  if (!video_backend_info().available) GTEST_SKIP() << "built without FFmpeg";
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "osvbench_test_concurrent";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string args = "compare --preset tiny --methods sfv --steps 1 --runs " + (dir / "runs").string() +
                           " data.num_test=16 sample.num_samples=16 fvd.num_real=16 fvd.bootstrap=10";
  const std::string one = std::string(OSVBENCH_EXE) + " " + args;
  const std::string cmd = "(" + one + " > " + (dir / "a.txt").string() + " 2>&1; echo $? > " +
                          (dir / "a.rc").string() + ") & (" + one + " > " + (dir / "b.txt").string() +
                          " 2>&1; echo $? > " + (dir / "b.rc").string() + ") & wait";
  ASSERT_EQ(std::system(("/bin/sh -c '" + cmd + "'").c_str()), 0);
  const auto a = read_file(dir / "a.txt"), b = read_file(dir / "b.txt");
  EXPECT_EQ(read_file(dir / "a.rc"), "0\n") << a;
  EXPECT_EQ(read_file(dir / "b.rc"), "0\n") << b;
  EXPECT_NE((a + b).find("waiting for another osvbench process"), std::string::npos) << a << b;
  // Trained once: one sfv run whose metrics hold each step once.
  const auto run = e2e::find_one(dir / "runs", "sfv-");
  ASSERT_FALSE(run.empty());
  const auto steps = e2e::read_jsonl(run / "metrics.jsonl");
  std::set<int64_t> seen;
  for (const auto& s : steps) EXPECT_TRUE(seen.insert(s["step"].get<int64_t>()).second) << "step trained twice";
  // Measured once, and the same numbers on both sides.
  int measured = 0;
  for (const auto& e : fs::directory_iterator(dir / "runs" / "rows"))
    if (e.path().filename().string().rfind("k-", 0) == 0) ++measured;
  EXPECT_EQ(measured, 1);
  auto fvd_line = [](const std::string& out) {
    const auto p = out.find("| sfv | consistency | 1 |");
    return p == std::string::npos ? std::string() : out.substr(p, out.find('\n', p) - p);
  };
  EXPECT_FALSE(fvd_line(a).empty()) << a;
  // The same FVD and CI (the timing columns may differ).
  EXPECT_EQ(fvd_line(a).substr(0, 60), fvd_line(b).substr(0, 60)) << a << b;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace osv
