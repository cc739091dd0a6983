#include "reports/provenance.h"

#include <ATen/Parallel.h>
#include <ATen/Context.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include "common/build_info.h"
#include "common/config.h"
#include "dist/dist.h"
#include "datasets/video_backend.h"
#include "models/device.h"
#include "models/numerics.h"

namespace osv {

using nlohmann::json;

json environment_info() {
  const auto& b = build_info();
  json gpus = json::array();
  for (const auto& d : cuda_devices())
    gpus.push_back({{"index", d.index}, {"name", d.name}, {"total_memory_bytes", d.total_memory},
                    {"compute_capability", fmt::format("{}.{}", d.major, d.minor)}});
  const auto v = video_backend_info();
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  return json{
      {"osvbench", {{"version", b.version}, {"git_hash", b.git_hash}, {"git_dirty", b.git_dirty},
                    {"build_type", b.build_type}, {"compiler", b.compiler}, {"fmt", b.fmt_source},
                    {"with_cuda", b.with_cuda}, {"with_ffmpeg", b.with_ffmpeg}}},
      {"torch", {{"version", b.torch_headers}, {"linkage", b.torch_mode}, {"mkl", at::hasMKL()},
                 {"mkldnn", at::hasMKLDNN()}, {"openmp", at::hasOpenMP()}}},
      {"threads", {{"intra_op", at::get_num_threads()}, {"inter_op", at::get_num_interop_threads()},
                   {"hardware", static_cast<long>(::sysconf(_SC_NPROCESSORS_ONLN))}}},
      {"numerics", numerics_info()},
      {"cuda", {{"available", cuda_available()}, {"devices", gpus}}},
      {"ffmpeg", {{"available", v.available}, {"libavformat", v.libavformat}, {"libavcodec", v.libavcodec},
                  {"h264_encoder", v.h264_encoder}, {"mpeg4_encoder", v.mpeg4_encoder},
                  {"gif_encoder", v.gif_encoder}, {"webp_encoder", v.webp_encoder}}},
      {"host", host},
      {"distributed", {{"rank", dist::rank()}, {"world_size", dist::world()}, {"local_rank", dist::local_rank()},
                       {"backend", dist::backend()}}},
  };
}

json provenance(const Config& config) {
  json p = environment_info();
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  p["config"] = config.json();
  p["config_hash"] = config.hash();
  p["preset"] = config.preset();
  p["device"] = config.get<std::string>("device");
  p["seed"] = config.get<long long>("seed");
  p["created_utc"] = stamp;
  return p;
}

}  // namespace osv
