// The cost of data-parallel training's gradient all-reduce (dist/), per step: the tiny teacher's
// gradient bucket and larger ones, through the same collective training uses. Run under torchrun:
//   torchrun --standalone --nproc-per-node 2 --no-python build/default/bench/bench_dist [--reps 10] [--device cuda]
// Prints one JSON line (rank 0): per bucket size, bytes exchanged and median ms per all-reduce.
// On 2 ranks of one 2-core machine this measures loopback and store overhead, not scaling.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

#include "dist/dist.h"
#include "models/device.h"

int main(int argc, char** argv) {
  CLI::App app("all-reduce cost of data-parallel training");
  int reps = 10;
  std::vector<double> mib = {0.25, 1, 4, 16, 64};
  app.add_option("--reps", reps, "all-reduces per size");
  std::string device_name = "cpu";
  app.add_option("--mib", mib, "float32 gradient bucket sizes in MiB");
  app.add_option("--device", device_name, "where the gradients live: cpu, cuda (this rank's GPU) or cuda:N");
  CLI11_PARSE(app, argc, argv);
  osv::dist::init();  // first: a rank's "cuda" is GPU LOCAL_RANK
  const auto device = osv::parse_device(device_name);
  at::set_num_threads(1);
  nlohmann::json out = {{"world_size", osv::dist::world()}, {"backend", osv::dist::backend()},
                        {"device", device.str()}, {"sizes", nlohmann::json::array()}};
  for (double m : mib) {
    const auto n = static_cast<int64_t>(m * (1 << 20) / 4);
    auto grad = torch::randn({n}, torch::TensorOptions().device(device));
    std::vector<double> ms;
    for (int r = 0; r < reps; ++r) {
      osv::dist::barrier("bench");
      const auto t0 = std::chrono::steady_clock::now();
      osv::dist::all_reduce_mean({grad});
      if (device.is_cuda()) grad.sum().item<float>();  // the copy back to the gradient has finished
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    out["sizes"].push_back({{"float32_mib", m}, {"elements", n}, {"bucket_bytes_sent_per_rank", n * 8},
                            {"median_ms", ms[ms.size() / 2]}, {"min_ms", ms.front()}});
  }
  if (osv::dist::is_main()) std::cout << out.dump() << "\n";
}
