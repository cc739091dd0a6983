// Where a training step's seconds go: torch's CPU profiler over a window of steps, reduced to each
// operator's self time (its own time, its nested operators' taken out) and to kinds of work
// (convolution, normalisation, matmul/attention, copies and layout, other elementwise), next to
// the window's wall time, the time outside every operator (the C++ around them) and the process's
// CPU time over wall x threads (how busy the intra-op threads were). The train loop writes it to
// <run>/profile.md and profile.json when run.profile_steps > 0.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace osv {

struct OpTime {
  std::string name;
  double self_s = 0;
  int64_t calls = 0;
};

struct OpProfileResult {
  std::vector<OpTime> ops;                              // by self time, largest first
  std::vector<std::pair<std::string, double>> kinds;   // kind -> self seconds, largest first
  double wall_s = 0, in_ops_s = 0, cpu_s = 0;
  int64_t steps = 0, threads = 0;
  nlohmann::json to_json() const;
  std::string markdown(const std::string& title, std::size_t top = 25) const;
};

// The kind of work an operator name does ("convolution", "normalization", "matmul/attention",
// "copy/layout", "elementwise", "other").
std::string op_kind(const std::string& name);

// Profiles the calling thread (and the intra-op tasks it launches) from start() to stop().
class OpProfile {
 public:
  void start();
  OpProfileResult stop(int64_t steps);
  ~OpProfile();

 private:
  bool on_ = false;
  double t0_ = 0, cpu0_ = 0;
};

}  // namespace osv
