// What this binary is: version, source revision, build options. Recorded in every result.
#pragma once

#include <string>

namespace osv {

struct BuildInfo {
  std::string version;        // project version, e.g. "0.1.0"
  std::string git_hash;       // full commit hash of the source tree, or "unknown"
  bool git_dirty = false;     // uncommitted changes when built
  std::string build_type;     // CMAKE_BUILD_TYPE
  std::string compiler;       // e.g. "GNU 12.2.0"
  std::string torch_headers;  // TORCH_VERSION of the headers compiled against
  std::string torch_mode;     // how LibTorch was located/linked
  std::string fmt_source;     // which fmt headers (see cmake/OsvDependencies.cmake)
  bool with_cuda = false;
  bool with_ffmpeg = false;
};

const BuildInfo& build_info();

// Peak resident memory of this process so far (VmHWM), MiB; 0 where unknown.
double peak_rss_mib();
// "0.1.0 (git 1a2b3c4d5e6f[-dirty], Release)"
std::string version_string();

}  // namespace osv
