#include "common/build_info.h"

#include <fstream>
#include <string>

#include <fmt/format.h>
#include <torch/version.h>

#include "osv_build_config.h"

namespace osv {

// Defined in the generated osv_git.cpp (rewritten at build time only when HEAD changes).
extern const char* const kGitHash;
extern const bool kGitDirty;

const BuildInfo& build_info() {
  static const BuildInfo info = [] {
    BuildInfo b;
    b.version = OSV_VERSION;
    b.git_hash = kGitHash;
    b.git_dirty = kGitDirty;
    b.build_type = OSV_BUILD_TYPE;
    b.compiler = OSV_COMPILER;
    b.torch_headers = fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
    b.torch_mode = OSV_TORCH_MODE;
    b.fmt_source = OSV_FMT_SOURCE;
    b.with_cuda = OSV_WITH_CUDA;
    b.with_ffmpeg = OSV_WITH_FFMPEG;
    return b;
  }();
  return info;
}

std::string version_string() {
  const auto& b = build_info();
  return fmt::format("{} (git {}{}, {})", b.version, b.git_hash.substr(0, 12), b.git_dirty ? "-dirty" : "",
                     b.build_type);
}

double peak_rss_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

}  // namespace osv
