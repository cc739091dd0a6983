// OSV on the tiny preset: `train --method osv` runs stage 1 (LGP) and stage 2 (ACD) as cached
// runs whose logs carry G and D losses and D's real/fake scores; the student's reconstruction of
// fixed real latents (probe_recon) falls in both stages; a second call reuses both stages;
// `compare` samples OSV with the consistency sampler and the Time Travel Sampler.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
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

TEST(OsvCli, TwoStagesTrainCachedAndSample) {
  if (!video_backend_info().available) GTEST_SKIP() << "built without FFmpeg";
  const auto dir = fs::temp_directory_path() / "osvbench_test_osv_cli";
  fs::remove_all(dir);
  const std::string common = "--preset tiny --runs " + dir.string() +
                             " osv.stage1_iters=40 osv.stage2_iters=20 osv.lr=1e-3 run.checkpoint_every=5";
  auto [code, out] = run("train --method osv " + common);
  ASSERT_EQ(code, 0) << out;
  const auto s1 = find_one(dir, "osv-stage1-"), s2 = find_one(dir, "osv-stage2-");
  ASSERT_FALSE(s1.empty());
  ASSERT_FALSE(s2.empty());
  EXPECT_NE(out.find((s2 / "lora.safetensors").string()), std::string::npos) << out;
  for (const auto& s : {s1, s2}) {
    const auto m = read_jsonl(s / "metrics.jsonl");
    ASSERT_FALSE(m.empty());
    for (const char* k : {"loss", "loss_d", "d_real", "d_fake", "recon", "adv_g", "it_per_s", "skipped"})
      EXPECT_TRUE(m.back().contains(k)) << s << " " << k;
    std::vector<double> probe;
    for (const auto& r : m)
      if (r.contains("probe_recon")) probe.push_back(r["probe_recon"].get<double>());
    ASSERT_GE(probe.size(), 4u) << s;
    EXPECT_LT(probe.back(), probe.front()) << s << ": the reconstruction term did not fall";
    EXPECT_TRUE(fs::exists(s / "disc.safetensors"));
  }
  // LoRA in the diffusers/PEFT key layout.
  const auto lora = read_file(s2 / "lora.safetensors");
  EXPECT_NE(lora.find("unet.down_blocks.0"), std::string::npos);
  EXPECT_NE(lora.find(".lora_A.weight"), std::string::npos);

  // Cached: nothing retrains.
  auto [code2, out2] = run("train --method osv " + common);
  ASSERT_EQ(code2, 0) << out2;
  EXPECT_NE(out2.find("osv stage 1: cached"), std::string::npos) << out2;
  EXPECT_NE(out2.find("osv stage 2: cached"), std::string::npos) << out2;

  auto [code3, out3] = run("compare --methods osv --steps 1,2,25 --samplers consistency,tts " + common +
                           " --out " + (dir / "cmp").string());
  ASSERT_EQ(code3, 0) << out3;
  EXPECT_NE(out3.find("| osv | consistency | 1 | none | 1 |"), std::string::npos) << out3;
  EXPECT_NE(out3.find("| osv | consistency | 2 | none | 2 |"), std::string::npos) << out3;
  EXPECT_NE(out3.find("| osv | tts | 1 | none | 2 |"), std::string::npos) << out3;
  EXPECT_NE(out3.find("| osv | tts | 2 | none | 4 |"), std::string::npos) << out3;
  // The training cost next to the FVD: both stages' student steps x the batch (1), and their seconds.
  const auto rows = nlohmann::json::parse(read_file(dir / "cmp" / "results.json"))["rows"];
  ASSERT_FALSE(rows.empty());
  for (const auto& r : rows) {
    EXPECT_EQ(r["train_steps"], 60) << r["weights"];
    EXPECT_EQ(r["train_clip_steps"], 60) << r["weights"];
    // UNet passes as the modules counted them (batch 1). Student: stage 1 one pass per step (40),
    // stage 2 two (the prediction and its EMA target: 40); the probe's passes (every 5 steps, 3
    // noise levels x 4 clips) are a diagnostic, logged apart and not counted. Teacher: stage 2
    // only, osv.solver_steps (5) Euler steps x 2 CFG branches per step (200).
    EXPECT_EQ(r["train_student_passes"], 40 + 40) << r["weights"];
    EXPECT_EQ(r["train_teacher_passes"], 20 * 5 * 2) << r["weights"];
    EXPECT_GT(r["train_s"].get<double>(), 0.0);
  }
  EXPECT_NE(out3.find("| 60 | "), std::string::npos) << out3;
  // Rows that cannot run are refused with the reason, the others still run.
  EXPECT_NE(out3.find("refused: osv consistency 25 steps: consistency sampling: 25 steps on a 20-point grid"),
            std::string::npos) << out3;
}

// Table 2g/2h: stage 1 at half the preset's frame size, stage 2 half, then full size for the last
// quarter of its steps; each step logs the frame height it trained on. The runs get keys of their
// own (the default-resolution runs stay as they were).
TEST(OsvCli, ResolutionSchedules) {
  if (!video_backend_info().available) GTEST_SKIP() << "built without FFmpeg";
  const auto dir = fs::temp_directory_path() / "osvbench_test_osv_resolution";
  fs::remove_all(dir);
  const std::string common = "--preset tiny --runs " + dir.string() +
                             " osv.stage1_iters=4 osv.stage2_iters=8 run.checkpoint_every=4";
  auto [code, out] = run("train --method osv " + common +
                         " osv.stage1_resolution=low osv.stage2_resolution=low_then_high "
                         "osv.stage2_highres_fraction=0.25");
  ASSERT_EQ(code, 0) << out;
  const auto s1 = find_one(dir, "osv-stage1-"), s2 = find_one(dir, "osv-stage2-");
  ASSERT_FALSE(s1.empty());
  ASSERT_FALSE(s2.empty());
  std::vector<double> h1, h2;
  for (const auto& r : read_jsonl(s1 / "metrics.jsonl")) h1.push_back(r.at("height").get<double>());
  for (const auto& r : read_jsonl(s2 / "metrics.jsonl")) h2.push_back(r.at("height").get<double>());
  EXPECT_EQ(h1, std::vector<double>(4, 16.0));  // tiny: 32x32 frames
  EXPECT_EQ(h2, (std::vector<double>{16, 16, 16, 16, 16, 16, 32, 32}));
  // The same knobs at the preset's size train runs under other keys.
  auto [code2, out2] = run("train --method osv " + common + " osv.stage1_resolution=high osv.stage2_resolution=high");
  ASSERT_EQ(code2, 0) << out2;
  int n1 = 0;
  for (const auto& e : fs::directory_iterator(dir))
    n1 += e.path().filename().string().rfind("osv-stage1-", 0) == 0;
  EXPECT_EQ(n1, 2);
  auto [code3, out3] = run("train --method osv " + common + " osv.stage2_resolution=sideways");
  EXPECT_NE(code3, 0);
  EXPECT_NE(out3.find("low_then_high"), std::string::npos) << out3;
}

}  // namespace
}  // namespace osv
