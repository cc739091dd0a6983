// Data pipeline throughput on this machine: mp4 decode clips/s (one thread; FFmpeg decode,
// fps resampling, cover+crop) and the loader's overhead per training step — how long a step
// waits for data when decoding runs on background threads next to a compute-bound step.
//   bench_loader [--clips 48] [--frames 14] [--size 64] [--threads 2] [--step-ms 40]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "datasets/folder_dataset.h"
#include "datasets/loader.h"
#include "datasets/synthetic.h"
#include "datasets/video_io.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  CLI::App app{"Decode throughput and loader overhead"};
  int clips = 48, frames = 14, size = 64, threads = 2, batch = 4;
  double step_ms = 40;
  app.add_option("--clips", clips);
  app.add_option("--frames", frames);
  app.add_option("--size", size);
  app.add_option("--threads", threads, "loader threads");
  app.add_option("--batch", batch);
  app.add_option("--step-ms", step_ms, "simulated training step (busy compute)");
  CLI11_PARSE(app, argc, argv);
  const auto dir = fs::temp_directory_path() / "osvbench_bench_loader";
  fs::remove_all(dir);
  osv::SyntheticOptions o;
  o.frames = frames * 2;  // 14 fps sources, resampled to 7
  o.height = size * 2;
  o.width = size * 3;
  for (int i = 0; i < clips; ++i) osv::write_video(dir / fmt::format("{:03d}.mp4", i), osv::synthetic_clip(o, i).video, 14.0);
  osv::VideoFolderDataset ds(osv::FolderKind::Videos, dir);
  osv::DecodeOptions d;
  d.frames = frames;
  d.fps = 7;
  d.height = size;
  d.width = size;
  at::set_num_threads(1);
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < ds.entries().size(); ++i) ds.load(i, d);
  const double decode_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // A compute-bound "training step" of about step_ms on the main thread.
  auto busy = [&] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double, std::milli>(step_ms);
    auto a = torch::randn({128, 128});
    while (std::chrono::steady_clock::now() < until) a = torch::tanh(a.mm(a) * 0.01);
  };
  std::vector<int64_t> order(ds.entries().size());
  std::iota(order.begin(), order.end(), 0);
  osv::ClipLoader loader(order, [&](int64_t i) { return ds.load(static_cast<std::size_t>(i), d); }, threads, 16);
  int steps = 0;
  t0 = std::chrono::steady_clock::now();
  while (true) {
    auto b = loader.next_batch(batch);
    if (!b.defined()) break;
    busy();
    ++steps;
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json out = {{"clips", clips},
                        {"clip", fmt::format("{} frames at 7 fps from a 14 fps {}x{} mp4, {}x{} out", frames, o.width,
                                             o.height, size, size)},
                        {"decode_clips_per_s", clips / decode_s},
                        {"loader_threads", threads},
                        {"step_ms", step_ms},
                        {"batch", batch},
                        {"steps", steps},
                        {"loader_wait_ms_per_step", 1000 * loader.wait_seconds() / std::max(1, steps)},
                        {"wall_ms_per_step", 1000 * total / std::max(1, steps)}};
  std::printf("%s\n", out.dump(2).c_str());
  fs::remove_all(dir);
  return 0;
}
