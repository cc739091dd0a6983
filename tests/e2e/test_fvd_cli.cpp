// `osvbench fvd stats` and `osvbench fvd compute` on two folders of mp4s (tiny preset, embedded
// detector): FVD, CI, N, detector, preprocessing and normaliser printed and written as JSON;
// a broken file in a folder is skipped and reported.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <fmt/format.h>
#include <torch/script.h>
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


// A named protocol on folders whose size and fps differ from the preset's (and from each other):
// fewer videos than it takes is an error naming --allow-fewer; with it the result states N, the
// protocol and how frames were chosen. A stand-in TorchScript detector with the StyleGAN-V
// signature returns the per-frame channel means of what it is handed, so the test also sees
// that videos reach it at their native size, 16 frames each.
TEST(FvdCli, ProtocolCountIsEnforcedOnFoldersOfOtherSizesAndFps) {
  if (!video_backend_info().available) GTEST_SKIP() << "built without FFmpeg";
  const auto dir = fs::temp_directory_path() / "osvbench_test_fvd_protocol";
  fs::remove_all(dir);
  fs::create_directories(dir);
  torch::jit::Module det("Detector");
  det.define(R"(
def forward(self, x, rescale: bool, resize: bool, return_features: bool):
    assert x.size(2) == 16
    return x.float().mean(dim=[3, 4]).flatten(1)
)");
  det.save((dir / "detector.pt").string());
  for (int i = 0; i < 100; ++i) {
    SyntheticOptions o;
    o.frames = i % 2 ? 20 : 24;
    o.height = i % 2 ? 32 : 40;
    o.width = i % 2 ? 32 : 48;
    const double fps = i % 2 ? 10.0 : 25.0;
    write_video(dir / "real" / fmt::format("r{:03d}.mp4", i), synthetic_clip(o, i).video, fps);
    write_video(dir / "fake" / fmt::format("f{:03d}.mp4", i), synthetic_clip(o, 1000 + i).video.div(2), fps);
  }
  const std::string common = "fvd compute --preset tiny --runs " + (dir / "runs").string() + " --real " +
                             (dir / "real").string() + " --fake " + (dir / "fake").string() +
                             " --protocol fvd2048_16f fvd.weights=" + (dir / "detector.pt").string();
  auto [code, out] = run(common);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("100 video file(s), and protocol fvd2048_16f takes 2048"), std::string::npos) << out;
  EXPECT_NE(out.find("--allow-fewer"), std::string::npos) << out;
  auto [code2, out2] = run(common + " --allow-fewer --out " + (dir / "fvd.json").string());
  ASSERT_EQ(code2, 0) << out2;
  const auto j = nlohmann::json::parse(read_file(dir / "fvd.json"));
  EXPECT_EQ(j["n_real"], 100);
  EXPECT_EQ(j["n_fake"], 100);
  EXPECT_EQ(j["dim"], 48);  // 3 channels x 16 frames
  EXPECT_EQ(j["protocol"]["name"], "fvd2048_16f");
  EXPECT_EQ(j["protocol"]["num_real_required"], 2048);
  EXPECT_EQ(j["protocol"]["complete"], false);
  EXPECT_EQ(j["protocol"]["detector"], "i3d_torchscript");
  EXPECT_EQ(j["protocol"]["normaliser"], "N");
  EXPECT_EQ(j["folder_rule"]["real"]["frame_choice"], "random_window");
  EXPECT_EQ(j["folder_rule"]["real"]["fps"], "native");
  EXPECT_EQ(j["detector"]["preprocess"], "styleganv");
  EXPECT_EQ(j["ci"]["interval"], "reverse_percentile_about_bootstrap_mean");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace osv
