// Adding a method is a folder and a registration line: this test registers a toy method from the
// test binary (no harness file names it) and runs `compare`, `sample`'s defaults and `train`
// through the same CLI entry point as `osvbench`, on the tiny preset.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "datasets/video_backend.h"
#include "harness/builtin_methods.h"
#include "harness/cli.h"
#include "methods/api/registry.h"
#include "methods/svd/svd_pipeline.h"

namespace osv {
namespace {
namespace fs = std::filesystem;

// Samples the scaled noise itself: one "network evaluation" per step, counted.
class ToyMethod : public Method {
 public:
  std::string name() const override { return "toy"; }
  int nfe(const SampleOptions& o) const override { return o.steps; }
  SampleResult sample(const Conditioning&, const torch::Tensor& noise, const SampleOptions& o) override {
    return SampleResult{noise * 0.5, o.steps};
  }
  std::string weights_id() const override { return "toy:none"; }
};

int cli(std::vector<std::string> args) {
  args.insert(args.begin(), "osvbench");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return run_cli(static_cast<int>(argv.size()), argv.data());
}

TEST(ToyMethod, RegisteredFromOutsideTheHarnessAndCompared) {
  if (!video_backend_info().available) GTEST_SKIP() << "built without FFmpeg";
  register_builtin_methods();
  static bool trained = false;
  MethodRegistry::instance().add(MethodInfo{
      "toy",
      "a toy method registered by a test",
      "tests/e2e/test_toy_method.cpp",
      {"consistency"},
      [](const Config&, std::shared_ptr<SvdPipeline>) -> std::unique_ptr<Method> { return std::make_unique<ToyMethod>(); },
      {"sample.cfg=false", "sample.sampler=consistency", "sample.steps=3"},
      "none",
      [](const Config& c, std::shared_ptr<SvdPipeline>, const std::string&) {
        trained = true;
        return fs::path(c.get<std::string>("run.root")) / "toy-weights";
      }});
  const auto dir = fs::temp_directory_path() / "osvbench_test_toy_method";
  fs::remove_all(dir);
  const std::vector<std::string> common = {"--preset", "tiny", "--runs", dir.string()};
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.end(), common.begin(), common.end());
    return a;
  };
  ASSERT_EQ(cli(with({"compare", "--methods", "toy", "--steps", "1,2", "--out", (dir / "cmp").string()})), 0);
  std::ifstream in(dir / "cmp" / "results.json");
  const auto res = nlohmann::json::parse(in);
  ASSERT_EQ(res["rows"].size(), 2u);
  for (const auto& r : res["rows"]) {
    EXPECT_EQ(r["method"], "toy");
    EXPECT_EQ(r["cfg"], "none");  // the registry's default CFG, not the teacher's
    EXPECT_EQ(r["nfe"], r["steps"]);
    EXPECT_TRUE(r["fvd"].is_number());
  }
  // train goes through the registry's entry; a stage the method does not declare is refused.
  EXPECT_EQ(cli(with({"train", "--method", "toy"})), 0);
  EXPECT_TRUE(trained);
  EXPECT_NE(cli(with({"train", "--method", "toy", "--stage", "1"})), 0);
  // sample --dry-run shows the method's own defaults under the preset's (no CFG, 3 steps).
  testing::internal::CaptureStdout();
  EXPECT_EQ(cli(with({"sample", "--method", "toy", "--dry-run"})), 0);
  const auto dry = testing::internal::GetCapturedStdout();
  const auto cfg = nlohmann::json::parse(dry.substr(0, dry.find("config hash:")));
  EXPECT_EQ(cfg["sample"]["cfg"], false);
  EXPECT_EQ(cfg["sample"]["steps"], 3);
  // ... and the user's flags still win over them.
  testing::internal::CaptureStdout();
  EXPECT_EQ(cli(with({"sample", "--method", "toy", "--steps", "5", "--dry-run"})), 0);
  const auto dry2 = testing::internal::GetCapturedStdout();
  EXPECT_EQ(nlohmann::json::parse(dry2.substr(0, dry2.find("config hash:")))["sample"]["steps"], 5);
}

}  // namespace
}  // namespace osv
