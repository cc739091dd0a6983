// Reproducible CPU numerics: the same bits on every x86-64 machine with AVX2.
//
// The kernels that ATen, oneDNN and MKL pick depend on the CPU's instruction set (AVX2 vs
// AVX-512), and parallel reductions depend on the thread count, so an uncapped run trains the
// embedded assets to other bits on another machine. In reproducible mode (the default,
// `run.reproducible=true`) osvbench caps, before its first tensor operation:
//   ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2, MKL_CBWR=AVX2
// (an explicitly set environment variable is kept, and recorded), and fixes the intra-op thread
// count (run.threads, 0 = kReproducibleThreads). `run.reproducible=false` (or the environment
// OSVBENCH_REPRODUCIBLE=0) lifts the caps for speed. Every result records the mode (numerics_info).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace osv {

inline constexpr int kReproducibleThreads = 2;

// Whether the command line or environment asks for reproducible numerics: false when an argument
// is `run.reproducible=false` / `reproducible=false` (or =0) or OSVBENCH_REPRODUCIBLE=0.
bool reproducible_requested(const std::vector<std::string>& args);

// Sets the caps' environment variables (reproducible) before any tensor operation. Call first in
// main(); later calls do nothing. Returns the mode applied.
bool init_numerics(bool reproducible);

// After the config is resolved: fixes the thread count (reproducible: threads or
// kReproducibleThreads; else threads when > 0) and warns when the config asks for another mode
// than the one the process started in (a --config file that sets run.reproducible).
void configure_numerics(bool reproducible, long long threads);

// {"reproducible", "cpu_capability", "onednn_max_isa", "mkl_cbwr", "intra_op_threads", ...}
nlohmann::json numerics_info();

}  // namespace osv
