// The osvbench executable end to end: help, info, exit codes of every error path.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "metrics/fvd/frechet.h"

namespace {

struct Result {
  int code;
  std::string out;  // stdout and stderr together
};

Result run(const std::string& args) {
  const std::string cmd = std::string(OSVBENCH_EXE) + " " + args + " 2>&1";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  Result r{-1, ""};
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) r.out += buf.data();
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool has(const Result& r, const std::string& s) { return r.out.find(s) != std::string::npos; }

TEST(Cli, HelpListsEverySubcommand) {
  const auto r = run("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* s : {"prepare", "train", "sample", "fvd", "compare", "ablate", "regress", "report", "info"})
    EXPECT_TRUE(has(r, s)) << s;
  EXPECT_TRUE(has(r, "Exit codes"));
}

TEST(Cli, SubcommandHelpIsReal) {
  const auto r = run("compare --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(has(r, "--steps"));
  EXPECT_TRUE(has(r, "--methods"));
  EXPECT_TRUE(has(r, "--dry-run"));
  EXPECT_EQ(run("fvd compute --help").code, 0);
}

TEST(Cli, VersionAndInfo) {
  const auto v = run("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_TRUE(has(v, "torch 2."));
  const auto i = run("info");
  EXPECT_EQ(i.code, 0);
  for (const char* s : {"torch", "threads", "CUDA", "FFmpeg", "build", "methods"}) EXPECT_TRUE(has(i, s)) << s;
  const auto j = run("info --json");
  EXPECT_EQ(j.code, 0);
  EXPECT_TRUE(has(j, "\"intra_op\""));
  EXPECT_EQ(run("info --config-keys").code, 0);
}

TEST(Cli, NoSubcommandIsAUsageError) { EXPECT_EQ(run("").code, 2); }

TEST(Cli, UnknownSubcommandSuggests) {
  const auto r = run("trian");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r, "unknown sub-command 'trian'"));
  EXPECT_TRUE(has(r, "did you mean 'train'"));
}

TEST(Cli, UnknownOptionIsAUsageError) {
  const auto r = run("train --bogus");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r, "--bogus"));
}

TEST(Cli, BadOverrideNamesKeyAndType) {
  const auto r = run("sample --preset tiny steps=abc");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r, "'sample.steps': expected integer, got 'abc'")) << r.out;
  const auto u = run("sample --preset tiny stepz=3");
  EXPECT_EQ(u.code, 2);
  EXPECT_TRUE(has(u, "unknown config key 'stepz'")) << u.out;
}

TEST(Cli, UnknownMethodPresetAndSamplerAreUsageErrors) {
  EXPECT_EQ(run("train --method osvv").code, 2);
  EXPECT_EQ(run("train --preset huge").code, 2);
  const auto s = run("sample --method teacher --sampler tts");
  EXPECT_EQ(s.code, 2);
  EXPECT_TRUE(has(s, "does not sample with 'tts'"));
  EXPECT_EQ(run("train --method teacher --stage 1").code, 2);
  EXPECT_EQ(run("ablate --table 3z").code, 2);
}

TEST(Cli, CudaDeviceIsCheckedAgainstTheBuildAndMachine) {
  // A CPU-only build (or a CUDA build with no visible device) refuses cuda with exit 2 and
  // says why; a CUDA build with a device accepts it.
  const auto r = run("train --method osv --device cuda --dry-run");
  if (has(run("info"), "CUDA       available")) {
    EXPECT_EQ(r.code, 0) << r.out;
  } else {
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_TRUE(has(r, "device 'cuda' requested")) << r.out;
  }
  EXPECT_EQ(run("train --method osv --device tpu").code, 2);
}

TEST(Cli, DryRunPrintsConfigHashAndRunDir) {
  const auto a = run("train --preset tiny --method osv --dry-run osv.lora_rank=8");
  EXPECT_EQ(a.code, 0) << a.out;
  EXPECT_TRUE(has(a, "\"lora_rank\": 8"));
  EXPECT_TRUE(has(a, "config hash: "));
  EXPECT_TRUE(has(a, "run directory: runs/osv-"));
  // Same config, same hash, every time.
  const auto b = run("train --preset tiny --dry-run osv.lora_rank=8 --method osv");
  EXPECT_EQ(a.out, b.out);
}

TEST(Cli, CompareExpandsTheGrid) {
  const auto r = run("compare --preset tiny --methods teacher,osv --steps 1,2 --dry-run");
  EXPECT_EQ(r.code, 0) << r.out;
  // teacher: euler x {1,2}; osv: {consistency, tts} x {1,2}.
  EXPECT_TRUE(has(r, "6 runs planned")) << r.out;
  EXPECT_TRUE(has(r, "| osv | tts | 1 | none |"));
  EXPECT_TRUE(has(r, "| teacher | euler | 2 | 3.0 |"));
}

// --steps-for gives one method its own step list; the others keep --steps. Bad uses are usage errors.
TEST(Cli, CompareStepsForGivesAMethodItsOwnSteps) {
  const auto r = run("compare --preset tiny --methods teacher,osv,sfv --steps 1,2,8 --steps-for osv=1 "
                     "--steps-for sfv=1,4 --dry-run");
  EXPECT_EQ(r.code, 0) << r.out;
  // teacher: euler x {1,2,8}; osv: {consistency, tts} x {1}; sfv: consistency x {1,4}.
  EXPECT_TRUE(has(r, "7 runs planned")) << r.out;
  EXPECT_TRUE(has(r, "| teacher | euler | 8 | 3.0 |"));
  EXPECT_TRUE(has(r, "| sfv | consistency | 4 | none |"));
  EXPECT_FALSE(has(r, "| osv | tts | 2 |"));
  EXPECT_FALSE(has(r, "| sfv | consistency | 2 |"));
  for (const auto& [args, msg] : std::vector<std::pair<std::string, std::string>>{
           {"--steps-for animatelcm=1", "--steps-for: 'animatelcm' is not one of --methods (teacher, osv)"},
           {"--steps-for osv", "expected METHOD=LIST (osv=1,2), got 'osv'"},
           {"--steps-for osv=1,0", "--steps-for osv: expected positive integers, got '0'"},
           {"--steps-for osv=1 --steps-for osv=2", "--steps-for: osv given twice"}}) {
    const auto bad = run("compare --preset tiny --methods teacher,osv --dry-run " + args);
    EXPECT_EQ(bad.code, 2) << args << bad.out;
    EXPECT_TRUE(has(bad, msg)) << args << bad.out;
  }
}

// --budget N trains every distilled method N student steps (OSV split 1:2 as the preset's 4 + 8):
// its grid is the grid of those overrides, row for row. --budget-matched refuses tiny's own
// unequal budgets (OSV 12 against 8 and 8) and an override --budget would overwrite.
TEST(Cli, CompareBudgetSetsAndChecksEqualTrainingBudgets) {
  const std::string grid = "compare --preset tiny --methods osv,animatelcm,sfv --steps 1 --dry-run";
  const auto b = run(grid + " --budget 9 --budget-matched");
  EXPECT_EQ(b.code, 0) << b.out;
  const auto o = run(grid + " osv.stage1_iters=3 osv.stage2_iters=6 animatelcm.iters=9 sfv.iters=9");
  EXPECT_EQ(o.code, 0) << o.out;
  EXPECT_EQ(b.out, o.out);
  EXPECT_NE(b.out, run(grid).out);
  const auto unequal = run(grid + " --budget-matched");
  EXPECT_EQ(unequal.code, 2) << unequal.out;
  EXPECT_TRUE(has(unequal, "unequal budgets (student steps x train.batch): animatelcm 8, osv 12, sfv 8")) << unequal.out;
  const auto clash = run(grid + " --budget 9 sfv.iters=5");
  EXPECT_EQ(clash.code, 2) << clash.out;
  EXPECT_TRUE(has(clash, "--budget sets sfv.iters; drop the sfv.iters=5 override")) << clash.out;
}

TEST(Cli, AblateRegressReportExplainBadInput) {
  // The tables ship in the executable, with the paper's values.
  auto l = run("ablate --list");
  EXPECT_EQ(l.code, 0) << l.out;
  EXPECT_TRUE(has(l, "table 2e: Table 2e")) << l.out;
  EXPECT_TRUE(has(l, "paper 232.25")) << l.out;
  // A missing baseline or an empty runs folder is a clear input error, exit 4.
  auto r = run("regress --baseline /nonexistent/baseline.json");
  EXPECT_EQ(r.code, 4) << r.out;
  EXPECT_TRUE(has(r, "create it with --update")) << r.out;
  const auto empty = std::filesystem::temp_directory_path() / "osvbench_test_cli_empty_runs";
  std::filesystem::create_directories(empty);
  auto p = run("report --runs " + empty.string());
  EXPECT_EQ(p.code, 4) << p.out;
  EXPECT_TRUE(has(p, "no results to report")) << p.out;
}

TEST(Cli, FvdComputeAndMergeOnStatisticsFiles) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "osvbench_test_cli_fvd";
  fs::create_directories(dir);
  std::mt19937_64 rng(1);
  std::normal_distribution<double> g;
  auto make = [&](const std::string& name, int n, double shift, const std::string& detector) {
    osv::FrechetStats s(8, true);
    Eigen::MatrixXd x(n, 8);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < 8; ++j) x(i, j) = shift + g(rng);
    s.add(x);
    s.info = {{"detector", detector}, {"weights_sha256", "ab"}, {"preprocess", "tf"}, {"features", "logits"}};
    s.save(dir / name);
  };
  make("real.safetensors", 60, 0.0, "i3d");
  make("fake1.safetensors", 30, 1.0, "i3d");
  make("fake2.safetensors", 30, 1.0, "i3d");
  make("other.safetensors", 30, 1.0, "i3d_torchscript");
  const auto m = run("fvd merge --in " + (dir / "fake1.safetensors").string() + " " +
                     (dir / "fake2.safetensors").string() + " --out " + (dir / "fake.safetensors").string());
  EXPECT_EQ(m.code, 0) << m.out;
  const auto r = run("fvd compute --preset tiny --real " + (dir / "real.safetensors").string() + " --fake " +
                     (dir / "fake.safetensors").string() + " --out " + (dir / "r.json").string() + " --fd-inf");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(has(r, "FVD ")) << r.out;
  EXPECT_TRUE(has(r, "CI [")) << r.out;
  EXPECT_TRUE(has(r, "N real 60 / fake 60")) << r.out;
  EXPECT_TRUE(has(r, "preprocessing tf, covariance normaliser N")) << r.out;
  const auto j = nlohmann::json::parse(osv::read_file(dir / "r.json"));
  EXPECT_GT(j["fvd"].get<double>(), 4.0);  // mean shift of 1 in 8 dimensions
  EXPECT_TRUE(j.contains("ci"));
  EXPECT_EQ(j["detector"]["detector"], "i3d");
  EXPECT_TRUE(j["provenance"].contains("config_hash"));
  const auto bad = run("fvd compute --real " + (dir / "real.safetensors").string() + " --fake " +
                       (dir / "other.safetensors").string());
  EXPECT_EQ(bad.code, 4) << bad.out;
  EXPECT_TRUE(has(bad, "'detector' differs")) << bad.out;
  fs::remove_all(dir);
}

}  // namespace

// A config value that reaches a child process (ablate fig3 passes `device` to `disc-cost`) is
// validated against its schema, and children are started from an argument vector, never a shell.
TEST(Cli, DeviceValueCannotInjectAShellCommand) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "osvbench_test_cli_injection";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto pwn = dir / "pwn";
  const auto r = run("ablate --table fig3 --preset tiny --runs " + (dir / "runs").string() + " 'device=cpu;touch " +
                     pwn.string() + "'");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r, "cpu, cuda or cuda:N")) << r.out;
  EXPECT_FALSE(fs::exists(pwn));
  EXPECT_EQ(run("info 'device=cuda:0 && touch " + pwn.string() + "'").code, 2);
  EXPECT_FALSE(fs::exists(pwn));
  fs::remove_all(dir);
}
