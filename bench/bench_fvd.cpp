// FVD building blocks, timed for the peer comparisons in bench/fvd_vs_python.py:
//   bench_fvd frechet STATS.safetensors [--iters N]     Fréchet distance of mu1/s1/mu2/s2 (float64)
//   bench_fvd i3d WEIGHTS TORCHSCRIPT [--clips N]       I3D clips/s at 16x224x224, native and TorchScript
//   bench_fvd stream --clips N [--keep-features]        peak RSS of streaming N clips into FVD statistics
// Prints one JSON line.
#include <torch/torch.h>

#include <Eigen/Dense>
#include <chrono>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include "datasets/synthetic.h"
#include "metrics/fvd/detector.h"
#include "metrics/fvd/embedded_detector.h"
#include "metrics/fvd/video_stats.h"
#include "metrics/fvd/frechet.h"
#include "models/safetensors.h"

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
Eigen::MatrixXd matrix(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous();
  const int64_t rows = c.size(0), cols = c.dim() == 2 ? c.size(1) : 1;
  return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(c.data_ptr<double>(),
                                                                                                   rows, cols);
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"FVD benchmarks"};
  app.require_subcommand(1);
  std::string stats, weights, script;
  int iters = 5, clips = 4, threads = 0;
  app.add_option("--threads", threads);
  auto* fr = app.add_subcommand("frechet");
  fr->add_option("stats", stats)->required();
  fr->add_option("--iters", iters);
  auto* i3 = app.add_subcommand("i3d");
  i3->add_option("weights", weights)->required();
  i3->add_option("torchscript", script)->required();
  i3->add_option("--clips", clips);
  auto* stream = app.add_subcommand("stream");
  int stream_clips = 500;
  bool keep = false;
  stream->add_option("--clips", stream_clips);
  stream->add_flag("--keep-features", keep, "also keep per-clip features (for the bootstrap)");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) at::set_num_threads(threads);
  nlohmann::json out;
  if (fr->parsed()) {
    auto f = osv::SafetensorsFile::open(stats);
    const auto mu1 = matrix(f.tensor("mu1")), s1 = matrix(f.tensor("s1")), mu2 = matrix(f.tensor("mu2")),
               s2 = matrix(f.tensor("s2"));
    double fd = osv::frechet_distance(mu1, s1, mu2, s2);  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) fd = osv::frechet_distance(mu1, s1, mu2, s2);
    out = {{"fd", fd}, {"seconds_per_fd", seconds_since(t0) / iters}, {"dim", mu1.size()}};
  } else if (stream->parsed()) {
    // The embedded detector (untrained, BN-calibrated) on 4x32x32 synthetic clips, 16 at a time.
    osv::EmbeddedDetectorOptions eo;
    eo.input_size = 32;
    eo.frames = 4;
    eo.train_steps = 0;
    eo.calibration_clips = 16;
    const auto w = std::filesystem::temp_directory_path() / "osvbench_bench_stream_i3d.safetensors";
    osv::ensure_embedded_i3d(w, eo);
    osv::NativeI3dOptions no;
    no.size = 32;
    auto det = osv::make_native_i3d(w, no);
    osv::SyntheticOptions so;
    so.frames = 4;
    so.height = 32;
    so.width = 32;
    osv::FrechetStats stats(0, keep);
    const auto t0 = std::chrono::steady_clock::now();
    for (int b = 0; b < stream_clips; b += 16) {
      std::vector<torch::Tensor> clips;
      for (int i = b; i < std::min(stream_clips, b + 16); ++i) clips.push_back(osv::synthetic_clip(so, i).video);
      osv::add_videos(*det, stats, torch::stack(clips), 16);
    }
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    out = {{"clips", stats.count()}, {"keep_features", keep}, {"peak_rss_mb", ru.ru_maxrss / 1024.0},
           {"seconds", seconds_since(t0)}};
  } else {
    torch::manual_seed(0);
    auto videos = torch::randint(0, 256, {1, 16, 3, 224, 224}, torch::kUInt8);
    auto native = osv::make_native_i3d(weights, {});
    auto ts = osv::make_torchscript_i3d(script);
    native->features(videos);
    ts->features(videos);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < clips; ++i) native->features(videos);
    const double native_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < clips; ++i) ts->features(videos);
    const double ts_s = seconds_since(t0);
    out = {{"native_clips_per_s", clips / native_s}, {"torchscript_clips_per_s", clips / ts_s}};
  }
  out["threads"] = at::get_num_threads();
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
