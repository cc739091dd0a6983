// AnimateLCM and SF-V on the tiny preset: `train --method animatelcm|sfv` runs a cached,
// logged training run (a second call reuses it), and `compare` samples both with their k-step
// consistency samplers (NFE = steps, counted), refusing SF-V rows beyond its 4-point grid.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "datasets/video_backend.h"
#include "tests/e2e/e2e_util.h"

namespace osv {
namespace {
namespace fs = std::filesystem;
using e2e::find_one;
using e2e::read_jsonl;
using e2e::run;

TEST(BaselinesCli, AnimateLcmAndSfvTrainCachedAndSample) {
  if (!video_backend_info().available) GTEST_SKIP() << "built without FFmpeg";
  const auto dir = fs::temp_directory_path() / "osvbench_test_baselines_cli";
  fs::remove_all(dir);
  const std::string common = "--preset tiny --runs " + dir.string() + " run.checkpoint_every=4";
  struct Case {
    const char* method;
    std::vector<const char*> keys;
    const char* weights;
  };
  for (const Case& c : {Case{"animatelcm", {"loss", "sigma", "cfg_wmax", "grad_norm", "it_per_s", "skipped"}, "unet.safetensors"},
                        Case{"sfv", {"loss", "loss_d", "d_real", "d_fake", "r1", "adv_g", "recon", "it_per_s", "skipped"},
                             "unet.safetensors"}}) {
    auto [code, out] = run(std::string("train --method ") + c.method + " " + common);
    ASSERT_EQ(code, 0) << out;
    const auto d = find_one(dir, std::string(c.method) + "-");
    ASSERT_FALSE(d.empty()) << c.method;
    EXPECT_NE(out.find((d / c.weights).string()), std::string::npos) << out;
    const auto m = read_jsonl(d / "metrics.jsonl");
    ASSERT_EQ(m.size(), 8u) << c.method;  // tiny preset: 8 iterations
    for (const char* k : c.keys) EXPECT_TRUE(m.back().contains(k)) << c.method << " " << k;
    for (const auto& r : m) EXPECT_EQ(r["skipped"].get<int64_t>(), 0) << c.method;
    auto [code2, out2] = run(std::string("train --method ") + c.method + " " + common);
    ASSERT_EQ(code2, 0) << out2;
    EXPECT_NE(out2.find(std::string(c.method) + ": cached"), std::string::npos) << out2;
  }
  EXPECT_TRUE(fs::exists(find_one(dir, "sfv-") / "disc.safetensors"));

  auto [code3, out3] = run("compare --methods animatelcm,sfv --steps 1,2,8 --cfg none " + common + " --out " +
                           (dir / "cmp").string());
  ASSERT_EQ(code3, 0) << out3;
  for (const char* row : {"| animatelcm | consistency | 1 | none | 1 |", "| animatelcm | consistency | 2 | none | 2 |",
                          "| animatelcm | consistency | 8 | none | 8 |", "| sfv | consistency | 1 | none | 1 |",
                          "| sfv | consistency | 2 | none | 2 |"})
    EXPECT_NE(out3.find(row), std::string::npos) << row << "\n" << out3;
  // Both trained the same budget (tiny: 8 steps x batch 1), stated next to the FVD.
  for (const auto& r : nlohmann::json::parse(read_file(dir / "cmp" / "results.json"))["rows"]) {
    EXPECT_EQ(r["train_clip_steps"], 8) << r["method"];
    // UNet passes as the modules counted them (8 steps x batch 1). AnimateLCM: the student's
    // prediction and its EMA target (2 per step), the teacher's one Euler step with CFG (2 per
    // step). SF-V: the generator's one pass; no teacher (its discriminator, a UNet encoder, is
    // not a whole pass).
    const bool lcm = r["method"] == "animatelcm";
    EXPECT_EQ(r["train_student_passes"], lcm ? 16 : 8) << r["method"];
    EXPECT_EQ(r["train_teacher_passes"], lcm ? 16 : 0) << r["method"];
    EXPECT_GT(r["train_s"].get<double>(), 0.0) << r["method"];
  }
  EXPECT_NE(out3.find("refused: sfv consistency 8 steps: sfv's generator was trained at 3 noise levels: 1 to 3 steps, not 8"), std::string::npos) << out3;

  // Released weights (animatelcm.weights): sampled without training, and the row says which they are.
  // The trained UNet stands in for the published file here (same keys: diffusers UNet state dict).
  const auto released = dir / "released" / "AnimateLCM-SVD-xt.safetensors";
  fs::create_directories(released.parent_path());
  fs::copy_file(find_one(dir, "animatelcm-") / "unet.safetensors", released);
  auto [code4, out4] = run("compare --methods animatelcm --steps 2 --cfg none " + common + " animatelcm.weights=" +
                           released.string() + " --out " + (dir / "cmp-released").string());
  ASSERT_EQ(code4, 0) << out4;
  std::ifstream in(dir / "cmp-released" / "results.json");
  const auto res = nlohmann::json::parse(in);
  ASSERT_EQ(res["rows"].size(), 1u) << out4;
  EXPECT_EQ(res["rows"][0]["weights"], "released:" + released.string());
  // A file of another model is refused as bad input, naming the tensors the UNet misses.
  const auto wrong = dir / "released" / "wrong.safetensors";
  fs::copy_file(find_one(dir, "sfv-") / "disc.safetensors", wrong);
  auto [code5, out5] = run("compare --methods animatelcm --steps 1 --cfg none " + common + " animatelcm.weights=" +
                           wrong.string() + " --out " + (dir / "cmp-wrong").string());
  EXPECT_NE(code5, 0) << out5;
  EXPECT_NE(out5.find("wrong.safetensors: "), std::string::npos) << out5;
  EXPECT_NE(out5.find("tensor(s) the model needs are missing: conv_in.weight"), std::string::npos) << out5;
}

}  // namespace
}  // namespace osv
