#include "models/numerics.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>

#include <cstdlib>

#include "common/log.h"

namespace osv {
namespace {

struct State {
  bool initialised = false;
  bool reproducible = false;
};

State& state() {
  static State s;
  return s;
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string(fallback);
}

bool is_false(std::string v) {
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v == "false" || v == "0" || v == "off" || v == "no";
}

}  // namespace

bool reproducible_requested(const std::vector<std::string>& args) {
  if (const char* e = std::getenv("OSVBENCH_REPRODUCIBLE"); e && is_false(e)) return false;
  for (const auto& a : args) {
    const auto eq = a.find('=');
    if (eq == std::string::npos) continue;
    const auto key = a.substr(0, eq);
    if ((key == "run.reproducible" || key == "reproducible") && is_false(a.substr(eq + 1))) return false;
  }
  return true;
}

bool init_numerics(bool reproducible) {
  auto& s = state();
  if (s.initialised) return s.reproducible;
  s.initialised = true;
  s.reproducible = reproducible;
  if (reproducible) {
    // overwrite = 0: a value the user set on purpose wins (and is recorded by numerics_info).
    ::setenv("ATEN_CPU_CAPABILITY", "avx2", 0);
    ::setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 0);
    ::setenv("MKL_CBWR", "AVX2", 0);
    // cuBLAS is deterministic only with a fixed workspace configuration (CUDA runs).
    ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);
  }
  return reproducible;
}

void configure_numerics(bool reproducible, long long threads) {
  auto& s = state();
  if (!s.initialised) init_numerics(reproducible);
  if (s.reproducible != reproducible)
    log::warn("run.reproducible={} was set after the process chose its kernels (mode: {}); pass "
             "run.reproducible={} on the command line or OSVBENCH_REPRODUCIBLE to change it",
             reproducible, s.reproducible ? "reproducible" : "native", reproducible);
  // Ranks of a process group on one machine (torchrun sets LOCAL_WORLD_SIZE) share its cores: by
  // default each takes its share, else their thread pools oversubscribe the cores (measured: 2 ranks x
  // 2 threads on 2 cores ran the tiny teacher's steps 70x slower than 2 x 1).
  const long long local_world = std::max(1LL, std::atoll(env_or("LOCAL_WORLD_SIZE", "1").c_str()));
  if (threads <= 0 && local_world > 1) {
    const long long cores = s.reproducible ? kReproducibleThreads
                                           : static_cast<long long>(std::thread::hardware_concurrency());
    threads = std::max(1LL, cores / local_world);
  }
  if (s.reproducible) {
    at::set_num_threads(static_cast<int>(threads > 0 ? threads : kReproducibleThreads));
    // Deterministic kernels where an op has both (CUDA scatter/index_add, cuDNN algorithm choice);
    // warn_only: an op without a deterministic version warns instead of failing the run.
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
    at::globalContext().setDeterministicCuDNN(true);
    at::globalContext().setBenchmarkCuDNN(false);
  } else if (threads > 0) {
    at::set_num_threads(static_cast<int>(threads));
  }
}

nlohmann::json numerics_info() {
  const auto& s = state();
  return nlohmann::json{{"reproducible", s.initialised && s.reproducible},
                        {"cpu_capability", at::get_cpu_capability()},
                        {"aten_cpu_capability_env", env_or("ATEN_CPU_CAPABILITY", "")},
                        {"onednn_max_isa", env_or("ONEDNN_MAX_CPU_ISA", "")},
                        {"mkl_cbwr", env_or("MKL_CBWR", "")},
                        {"intra_op_threads", at::get_num_threads()},
                        {"deterministic_algorithms", at::globalContext().deterministicAlgorithms()},
                        {"cublas_workspace_config", env_or("CUBLAS_WORKSPACE_CONFIG", "")}};
}

}  // namespace osv
