// `osvbench fvd stats` and `osvbench fvd compute` on two folders of mp4s (tiny preset, embedded
// detector): FVD, CI, N, detector, preprocessing and normaliser printed and written as JSON;
// a broken file in a folder is skipped and reported.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "datasets/synthetic.h"
#include "datasets/video_backend.h"
#include "tests/e2e/e2e_util.h"
#include "datasets/video_io.h"

namespace osv {
namespace {
namespace fs = std::filesystem;
using e2e::run;

TEST(FvdCli, ComputeOnTwoFoldersOfMp4s) {
  if (!video_backend_info().available) GTEST_SKIP() << "built without FFmpeg";
  const auto dir = fs::temp_directory_path() / "osvbench_test_fvd_cli";
  fs::remove_all(dir);
  SyntheticOptions o;
  o.frames = 6;
  o.height = 32;
  o.width = 32;
  for (int i = 0; i < 12; ++i) {
    write_video(dir / "real" / fmt::format("r{:02d}.mp4", i), synthetic_clip(o, i).video, 7.0);
    write_video(dir / "fake" / fmt::format("f{:02d}.mp4", i), synthetic_clip(o, 100 + i).video.div(2), 7.0);
  }
  atomic_write(dir / "fake" / "broken.mp4", "not a video");
  const std::string common = "--preset tiny --runs " + (dir / "runs").string();
  auto [code, out] = run("fvd compute " + common + " --real " + (dir / "real").string() + " --fake " +
                         (dir / "fake").string() + " --out " + (dir / "fvd.json").string());
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("FVD "), std::string::npos) << out;
  EXPECT_NE(out.find("CI ["), std::string::npos) << out;
  EXPECT_NE(out.find("N real 12 / fake 12"), std::string::npos) << out;
  EXPECT_NE(out.find("skipped 1 (not a video 1)"), std::string::npos) << out;
  EXPECT_NE(out.find("detector i3d"), std::string::npos) << out;
  EXPECT_NE(out.find("preprocessing tf, covariance normaliser N"), std::string::npos) << out;
  const auto j = nlohmann::json::parse(read_file(dir / "fvd.json"));
  EXPECT_GT(j["fvd"].get<double>(), 0.0);
  EXPECT_EQ(j["n_fake"], 12);
  EXPECT_EQ(j["detector"]["weights_sha256"].get<std::string>().size(), 64u);
  // fvd stats writes the same statistics compute used; computing from the files agrees.
  auto [c1, o1] = run("fvd stats " + common + " --videos " + (dir / "real").string() + " --out " +
                      (dir / "real.safetensors").string());
  auto [c2, o2] = run("fvd stats " + common + " --videos " + (dir / "fake").string() + " --out " +
                      (dir / "fake.safetensors").string());
  ASSERT_EQ(c1, 0) << o1;
  ASSERT_EQ(c2, 0) << o2;
  auto [c3, o3] = run("fvd compute " + common + " --real " + (dir / "real.safetensors").string() + " --fake " +
                      (dir / "fake.safetensors").string() + " --out " + (dir / "fvd2.json").string());
  ASSERT_EQ(c3, 0) << o3;
  const auto j2 = nlohmann::json::parse(read_file(dir / "fvd2.json"));
  EXPECT_NEAR(j2["fvd"].get<double>(), j["fvd"].get<double>(), 1e-9 * std::abs(j["fvd"].get<double>()));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace osv
