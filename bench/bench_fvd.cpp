// FVD building blocks, timed for the peer comparisons in bench/fvd_vs_python.py:
//   bench_fvd frechet STATS.safetensors [--iters N]     Fréchet distance of mu1/s1/mu2/s2 (float64)
//   bench_fvd i3d WEIGHTS TORCHSCRIPT [--clips N]       I3D clips/s at 16x224x224, native and TorchScript
// Prints one JSON line.
#include <torch/torch.h>

#include <Eigen/Dense>
#include <chrono>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "metrics/fvd/detector.h"
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
