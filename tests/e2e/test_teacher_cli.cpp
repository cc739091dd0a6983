// The embedded default end to end on the tiny preset: `prepare` trains the VAE, image encoder
// and teacher into a diffusers SVD folder; `train --method teacher` killed with SIGKILL resumes to
// the same loss curve as an uninterrupted run; `sample` writes videos, a grid and the counted
// NFE; `compare` scores teacher rows with FVD.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "datasets/synthetic.h"
#include "datasets/video_backend.h"
#include "datasets/video_io.h"
#include "tests/e2e/e2e_util.h"

namespace osv {
namespace {
namespace fs = std::filesystem;
using e2e::find_one;
using e2e::read_jsonl;
using e2e::run;

struct TeacherCli : ::testing::Test {
  // One folder per test process: ctest runs each test as its own process, two at once, and each
  // prepares its own tiny assets here (one shared folder was removed under a running test by the
  // next test's set-up).
  static inline fs::path dir =
      fs::temp_directory_path() / ("osvbench_test_teacher_cli-" + std::to_string(::getpid()));
  static inline std::string knobs = " train.teacher_iters=24 run.checkpoint_every=4";
  static void SetUpTestSuite() {
    fs::remove_all(dir);
    if (!video_backend_info().available) return;
    auto [code, out] = run("prepare --preset tiny --only data,detector,vae,image_encoder,teacher --runs " +
                           (dir / "a").string() + knobs);
    ASSERT_EQ(code, 0) << out;
  }
  static void TearDownTestSuite() { fs::remove_all(dir); }
  void SetUp() override {
    if (!video_backend_info().available) GTEST_SKIP() << "built without FFmpeg";
  }
};

TEST_F(TeacherCli, PrepareWritesADiffusersSvdFolder) {
  const auto svd = find_one(dir / "a" / "assets", "svd-embedded-");
  ASSERT_FALSE(svd.empty());
  for (const char* f : {"model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                        "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "image_encoder/config.json",
                        "image_encoder/model.safetensors", "scheduler/scheduler_config.json",
                        "feature_extractor/preprocessor_config.json"})
    EXPECT_TRUE(fs::exists(svd / f)) << f;
  const auto vae = nlohmann::json::parse(read_file(svd / "vae" / "config.json"));
  EXPECT_GT(vae["scaling_factor"].get<double>(), 0.0);
  const auto m = read_jsonl(svd / "train" / "unet" / "metrics.jsonl");
  ASSERT_EQ(m.size(), 24u);
  for (const char* k : {"loss", "lr", "it_per_s", "grad_norm", "skipped"}) EXPECT_TRUE(m[0].contains(k)) << k;
  // Cached: a second prepare trains nothing.
  auto [code, out] = run("prepare --preset tiny --only vae,image_encoder,teacher --runs " + (dir / "a").string() + knobs);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("teacher:  " + (svd / "unet").string() + " (cached)"), std::string::npos) << out;
}

// The exported folder is a pipeline diffusers can run as a user would: from_pretrained, then
// __call__ on a PIL image, which resizes the CLIP branch's input to 224 x 224 whatever the encoder
// was built for (an image encoder of another input size fails there).
TEST_F(TeacherCli, DiffusersRunsTheExportedPipeline) {
#ifndef OSVBENCH_PYTHON_EXE
  GTEST_SKIP() << "no Python with diffusers (scripts/setup.sh)";
#else
  const auto svd = find_one(dir / "a" / "assets", "svd-embedded-");
  ASSERT_FALSE(svd.empty());
  const std::string cmd = fmt::format("{} {}/tests/parity/run_exported_pipeline.py {} --height 32 --width 32 --frames 4 2>&1",
                                      OSVBENCH_PYTHON_EXE, OSVBENCH_SOURCE_DIR, svd.string());
  std::FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr) << cmd;
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = ::pclose(p);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) GTEST_SKIP() << out;
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  const auto j = nlohmann::json::parse(out.substr(out.rfind('{')));
  EXPECT_EQ(j["shape"], nlohmann::json::parse("[1, 4, 3, 32, 32]")) << out;
  EXPECT_TRUE(j["finite"].get<bool>()) << out;
  EXPECT_EQ(j["image_size"].get<int>(), 224) << out;
  EXPECT_GT(j["std"].get<double>(), 0.0) << out;  // not a constant frame
#endif
}

// train.vae_pool_weight > 0 adds the pooled-latent term to the VAE's loss: logged per step,
// and a separate asset (the knob is part of the embedded models' key).
TEST_F(TeacherCli, VaePoolTermIsLoggedAndKeyed) {
  const fs::path root = dir / "pool";
  for (const char* w : {"0", "1"}) {
    auto [code, out] = run("prepare --preset tiny --only data,vae --runs " + root.string() + " train.vae_pool_weight=" + w);
    ASSERT_EQ(code, 0) << out;
  }
  std::vector<fs::path> svds;
  for (const auto& e : fs::directory_iterator(root / "assets"))
    if (e.path().filename().string().rfind("svd-embedded-", 0) == 0) svds.push_back(e.path());
  ASSERT_EQ(svds.size(), 2u);
  int with_pool = 0;
  for (const auto& svd : svds) {
    const auto m = read_jsonl(svd / "train" / "vae" / "metrics.jsonl");
    ASSERT_FALSE(m.empty());
    if (!m[0].contains("pool")) continue;
    ++with_pool;
    for (const auto& r : m) EXPECT_TRUE(std::isfinite(r["pool"].get<double>()));
  }
  EXPECT_EQ(with_pool, 1);
}

// The VAE and the image encoder are keyed by their own knobs: a folder that differs only in a
// teacher knob copies them from its sibling instead of training them again; a VAE knob retrains
// the VAE (and still reuses the image encoder).
TEST_F(TeacherCli, TeacherKnobReusesTheVaeAndImageEncoder) {
  const fs::path root = dir / "reuse";
  const std::string base = "prepare --preset tiny --only data,vae,image_encoder --runs " + root.string();
  auto [c1, o1] = run(base + " train.teacher_iters=24");
  ASSERT_EQ(c1, 0) << o1;
  const auto first = find_one(root / "assets", "svd-embedded-");
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(o1.find("reused"), std::string::npos) << o1;

  auto [c2, o2] = run(base + " train.teacher_iters=25");
  ASSERT_EQ(c2, 0) << o2;
  fs::path second;
  for (const auto& e : fs::directory_iterator(root / "assets"))
    if (e.path().filename().string().rfind("svd-embedded-", 0) == 0 && e.path() != first) second = e.path();
  ASSERT_FALSE(second.empty()) << "a teacher knob must key a new folder";
  const std::string from = " (reused from " + first.filename().string() + ")";
  EXPECT_NE(o2.find("vae:      " + (second / "vae").string() + from), std::string::npos) << o2;
  EXPECT_NE(o2.find("image_encoder: " + (second / "image_encoder").string() + from), std::string::npos) << o2;
  for (const char* f : {"vae/diffusion_pytorch_model.safetensors", "vae/config.json", "image_encoder/model.safetensors",
                        "train/vae/metrics.jsonl"})
    EXPECT_EQ(read_file(second / f), read_file(first / f)) << f;

  auto [c3, o3] = run(base + " train.teacher_iters=26 train.vae_iters=11");
  ASSERT_EQ(c3, 0) << o3;
  auto line = [&](const std::string& prefix) {
    const auto at = o3.find(prefix);
    return at == std::string::npos ? std::string() : o3.substr(at, o3.find('\n', at) - at);
  };
  ASSERT_FALSE(line("vae:      ").empty()) << o3;
  EXPECT_EQ(line("vae:      ").find("reused"), std::string::npos) << "a VAE knob must retrain the VAE";
  EXPECT_NE(line("image_encoder: ").find(from), std::string::npos) << o3;
  // The retrained VAE logged 11 steps, not the 10 it would have copied.
  int third = 0;
  for (const auto& e : fs::directory_iterator(root / "assets")) {
    if (e.path().filename().string().rfind("svd-embedded-", 0) != 0 || e.path() == first || e.path() == second) continue;
    ++third;
    EXPECT_EQ(read_jsonl(e.path() / "train" / "vae" / "metrics.jsonl").size(), 11u);
  }
  EXPECT_EQ(third, 1);
}

TEST_F(TeacherCli, KilledTrainingResumesToTheSameCurve) {
  const fs::path root = dir / "b";
  const std::string cmd = std::string(OSVBENCH_EXE) + " train --method teacher --preset tiny --runs " + root.string() +
                          knobs + " --log-level warn > " + (dir / "b.log").string() + " 2>&1";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Kill -9 once the teacher has checkpointed at least once and moved on past it; keep what it logged.
  bool killed = false;
  std::vector<nlohmann::json> before;
  for (int i = 0; i < 6000 && !killed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!fs::exists(root / "assets")) continue;
    const auto svd = find_one(root / "assets", "svd-embedded-");
    if (svd.empty()) continue;
    const auto metrics = svd / "train" / "unet" / "metrics.jsonl";
    if (!fs::exists(svd / "train" / "unet" / "checkpoint.safetensors") || !fs::exists(metrics)) continue;
    if (read_jsonl(metrics).size() % 4 >= 2) {  // between checkpoints (every 4 steps)
      ::kill(pid, SIGKILL);
      killed = true;
      before = read_jsonl(metrics);  // final: the process is dead once waitpid returns
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (killed) before = read_jsonl(find_one(root / "assets", "svd-embedded-") / "train" / "unet" / "metrics.jsonl");
  ASSERT_TRUE(killed) << "the run finished before it could be killed: " << read_file(dir / "b.log");
  ASSERT_TRUE(WIFSIGNALED(status));
  const auto svd_b = find_one(root / "assets", "svd-embedded-");
  EXPECT_FALSE(fs::exists(svd_b / "unet" / "diffusion_pytorch_model.safetensors"));
  auto [code, out] = run("train --method teacher --preset tiny --runs " + root.string() + knobs);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("resuming at step"), std::string::npos) << out;
  // The resumed run recomputed the steps after the last checkpoint: they must equal what the
  // killed process had logged for them (same data order, same noise, same weights), and the
  // whole curve has every step once.
  const auto after = read_jsonl(svd_b / "train" / "unet" / "metrics.jsonl");
  ASSERT_EQ(after.size(), 24u);
  ASSERT_GE(before.size(), 6u);
  ASSERT_NE(before.size() % 4, 0u) << "killed on a checkpoint: nothing recomputed";
  for (std::size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i]["step"].get<std::size_t>(), i);
  for (std::size_t i = 0; i < before.size(); ++i)
    EXPECT_DOUBLE_EQ(before[i]["loss"].get<double>(), after[i]["loss"].get<double>()) << "step " << i;
  EXPECT_TRUE(fs::exists(svd_b / "unet" / "diffusion_pytorch_model.safetensors"));
}

TEST_F(TeacherCli, SampleWritesVideosGridAndCountedNfe) {
  const auto out_dir = dir / "samples";
  auto [code, out] = run("sample --method teacher --preset tiny --steps 2 --cfg 3.0 --num 3 --runs " +
                         (dir / "a").string() + knobs + " --out " + out_dir.string());
  ASSERT_EQ(code, 0) << out;
  EXPECT_TRUE(fs::exists(out_dir / "grid.png"));
  int mp4 = 0;
  for (const auto& e : fs::directory_iterator(out_dir)) mp4 += e.path().extension() == ".mp4";
  EXPECT_EQ(mp4, 3);
  const auto j = nlohmann::json::parse(read_file(out_dir / "samples.json"));
  EXPECT_EQ(j["nfe"], 4);  // 2 steps x (conditional + unconditional)
  EXPECT_EQ(j["method"], "teacher");
  EXPECT_TRUE(j["provenance"].contains("config_hash")) << j["provenance"].dump();
}

// model.embedded_latent_channels widens the embedded VAE's latent and the UNet's in/out channels
// with it (its own folder: the architecture is in the component keys); the teacher samples and every
// distilled method trains and samples on it end to end.
TEST_F(TeacherCli, LatentChannelsKnobWidensTheLatentEndToEnd) {
  const auto out_dir = dir / "samples-latent8";
  // Its own runs folder, so that the suite's other tests find only the 4-channel folder in "a".
  fs::create_directories(dir / "latent8" / "assets");
  for (const auto& e : fs::directory_iterator(dir / "a" / "assets"))  // the same data and detector
    if (e.path().filename().string().rfind("svd-embedded-", 0) != 0 && e.path().filename().string()[0] != '.')
      fs::create_symlink(e.path(), dir / "latent8" / "assets" / e.path().filename());
  auto [code, out] = run("sample --method teacher --preset tiny --steps 2 --num 2 --runs " +
                         (dir / "latent8").string() + knobs + " model.embedded_latent_channels=8 --out " +
                         out_dir.string());
  ASSERT_EQ(code, 0) << out;
  int mp4 = 0;
  for (const auto& e : fs::directory_iterator(out_dir)) mp4 += e.path().extension() == ".mp4";
  EXPECT_EQ(mp4, 2) << out;
  int folders = 0, wide = 0;
  for (const auto& e : fs::directory_iterator(dir / "latent8" / "assets")) {
    if (e.path().filename().string().rfind("svd-embedded-", 0) != 0) continue;
    ++folders;
    const auto vae = nlohmann::json::parse(read_file(e.path() / "vae" / "config.json"));
    if (vae["latent_channels"] != 8) continue;
    ++wide;
    const auto unet = nlohmann::json::parse(read_file(e.path() / "unet" / "config.json"));
    EXPECT_EQ(unet["in_channels"], 16);  // the noisy latent and the first frame's latent
    EXPECT_EQ(unet["out_channels"], 8);
  }
  EXPECT_EQ(wide, 1);
  EXPECT_EQ(folders, 1);
  // Every distilled method trains and samples on it (the small preset's latent is 16 channels wide).
  auto [c2, o2] = run("compare --preset tiny --methods osv,animatelcm,sfv --steps 1 --samplers consistency --runs " +
                      (dir / "latent8").string() + knobs + " model.embedded_latent_channels=8 --out " +
                      (dir / "compare-latent8").string());
  ASSERT_EQ(c2, 0) << o2;
  const auto rows = nlohmann::json::parse(read_file(dir / "compare-latent8" / "results.json"))["rows"];
  ASSERT_EQ(rows.size(), 3u) << o2;
  for (const auto& r : rows) EXPECT_TRUE(r["fvd"].is_number()) << r.dump();
}

TEST_F(TeacherCli, CompareScoresTeacherRowsWithFvd) {
  const auto out_dir = dir / "compare";
  auto [code, out] = run("compare --methods teacher --steps 1,3 --preset tiny --runs " + (dir / "a").string() + knobs +
                         " --out " + out_dir.string());
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("| teacher | euler | 1 | 3 | 2 |"), std::string::npos) << out;
  EXPECT_NE(out.find("| teacher | euler | 3 | 3 | 6 |"), std::string::npos) << out;
  const auto j = nlohmann::json::parse(read_file(out_dir / "results.json"));
  ASSERT_EQ(j["rows"].size(), 2u);
  // compare's default formats include the HTML report of its own rows.
  const auto html = read_file(out_dir / "report.html");
  EXPECT_NE(html.find("<table id=\"compare-0\""), std::string::npos);
  EXPECT_NE(html.find("data:video/mp4;base64,"), std::string::npos);
  for (const auto& r : j["rows"]) {
    EXPECT_GT(r["fvd"].get<double>(), 0.0);
    EXPECT_TRUE(r.contains("ci"));
    EXPECT_EQ(r["n_fake"], 8);
  }
}

// `reconstruct`: the VAE's reconstructions of the held-out clips scored against them, next to the
// training-vs-held-out FVD at the same N; every reconstruction written as mp4.
TEST_F(TeacherCli, ReconstructScoresTheVaeAgainstTheHeldOutClipsAndTheFloor) {
  const auto out_dir = dir / "recon";
  auto [code, out] = run("reconstruct --preset tiny --num 8 --runs " + (dir / "a").string() + knobs + " --out " +
                         out_dir.string());
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("VAE reconstruction of 8 held-out clips: FVD "), std::string::npos) << out;
  const auto j = nlohmann::json::parse(read_file(out_dir / "results.json"));
  EXPECT_EQ(j["schema"], "osvbench.reconstruct/1");
  const auto& r = j["row"];
  EXPECT_EQ(r["n_fake"], 8);
  EXPECT_EQ(r["n_real"], 8);
  // The clips went through the VAE: returned unchanged they would score 0 against themselves.
  EXPECT_GT(r["fvd"].get<double>(), 0.0);
  EXPECT_GT(r["pixel_mse"].get<double>(), 0.0);
  EXPECT_LT(r["pixel_mse"].get<double>(), 1.0);
  EXPECT_TRUE(r.contains("ci"));
  ASSERT_TRUE(r.contains("floor"));
  EXPECT_EQ(r["floor"]["n_fake"], 8);
  EXPECT_DOUBLE_EQ(r["ratio_to_floor"].get<double>(), r["fvd"].get<double>() / r["floor"]["fvd"].get<double>());
  EXPECT_TRUE(r["weights"].get<std::string>().find("svd-embedded-") != std::string::npos) << r["weights"];
  EXPECT_TRUE(r["provenance"].contains("config_hash"));
  int mp4 = 0;
  for (const auto& e : fs::directory_iterator(out_dir / "videos")) mp4 += e.path().extension() == ".mp4";
  EXPECT_EQ(mp4, 8);
  EXPECT_TRUE(fs::exists(out_dir / "videos" / "grid.png"));
  // --no-floor skips the training clips.
  auto [c2, o2] = run("reconstruct --preset tiny --num 8 --no-floor --runs " + (dir / "a").string() + knobs + " --out " +
                      (dir / "recon2").string());
  ASSERT_EQ(c2, 0) << o2;
  EXPECT_FALSE(nlohmann::json::parse(read_file(dir / "recon2" / "results.json"))["row"].contains("floor"));
  // The report shows it: the floors table, and the reconstructions as one more column of samples.
  auto [c3, o3] = run("report --preset tiny --runs " + (dir / "a").string() + " --results " + out_dir.string() +
                      " --out " + (dir / "report.html").string());
  ASSERT_EQ(c3, 0) << o3;
  const auto html = read_file(dir / "report.html");
  EXPECT_NE(html.find("<table id=\"floors\">"), std::string::npos);
  EXPECT_NE(html.find("training clips vs the held-out clips"), std::string::npos);
  EXPECT_NE(html.find("vae reconstruction 0 cfg none"), std::string::npos);
  EXPECT_NE(html.find("data:video/mp4;base64,"), std::string::npos);
}

// The paper-scale preset on OpenVid-1M-shaped data, through the code path a GPU run takes (the svd
// preset: bf16 autocast, OpenVid's CSV and split) with device=cpu, small clip sizes, the tiny
// embedded SVD folder standing in for SVD-xt and the tiny detector for I3D: a CSV with OpenVid-1M's
// columns (a quoted caption with a comma, a row whose file is missing) over mp4s of several sizes
// and frame rates, resampled and resized as the data.* keys say.
TEST_F(TeacherCli, CompareRunsTheSvdPresetOnOpenVidShapedData) {
  const auto root = dir / "openvid";
  fs::create_directories(root / "videos");
  std::string csv = "video,caption,aesthetic score,motion score,temporal consistency score,camera motion,frame,fps,seconds\n";
  const std::array<std::array<int64_t, 2>, 3> sizes{{{48, 64}, {36, 64}, {64, 48}}};
  const std::array<double, 3> rates{7.0, 24.0, 30.0};
  for (int i = 0; i < 10; ++i) {
    SyntheticOptions o;
    o.height = sizes[i % 3][0];
    o.width = sizes[i % 3][1];
    o.fps = rates[i % 3];
    o.frames = static_cast<int64_t>(o.fps);  // one second
    o.seed = 77;
    const auto name = fmt::format("videos/clip_{:02d}.mp4", i);
    write_video(root / name, synthetic_clip(o, i).video, o.fps);
    csv += fmt::format("{},\"shapes move, slowly ({})\",5.1,3.2,0.98,static,{},{},1.0\n", name, i, o.frames, o.fps);
  }
  csv += "videos/not_there.mp4,a row without its file,4.0,1.0,0.9,pan,30,30,1.0\n";
  atomic_write(root / "OpenVid-1M.csv", csv);
  const auto svd = find_one(dir / "a" / "assets", "svd-embedded-");
  const auto out_dir = dir / "compare-openvid";
  auto [code, out] = run("compare --methods teacher --steps 1 --preset svd --runs " + (dir / "a").string() +
                         " --out " + out_dir.string() + " device=cpu model.path=" + svd.string() +
                         " data.csv=" + (root / "OpenVid-1M.csv").string() + " data.root=" + root.string() +
                         " data.frames=4 data.height=32 data.width=32 data.num_test=4 sample.num_samples=4"
                         " fvd.num_real=4 fvd.num_fake=4 fvd.frames=4 fvd.bootstrap=20 fvd.input_size=32"
                         " fvd.embedded_train_steps=2");
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("missing 1"), std::string::npos) << out;  // the row without its file, counted
  const auto j = nlohmann::json::parse(read_file(out_dir / "results.json"));
  ASSERT_EQ(j["rows"].size(), 1u);
  EXPECT_EQ(j["rows"][0]["n_fake"], 4);
  EXPECT_GT(j["rows"][0]["fvd"].get<double>(), 0.0);
  EXPECT_NE(j.dump().find("bf16"), std::string::npos);  // the svd preset's precision, in the provenance
}

}  // namespace
}  // namespace osv
