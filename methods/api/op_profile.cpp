#include "methods/api/op_profile.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <map>

namespace osv {
namespace prof = torch::autograd::profiler;

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double process_cpu_s() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}
bool has(const std::string& s, const char* p) { return s.find(p) != std::string::npos; }
}  // namespace

std::string op_kind(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (has(n, "conv")) return "convolution";
  if (has(n, "group_norm") || has(n, "layer_norm") || has(n, "batch_norm") || has(n, "groupnorm") ||
      has(n, "layernorm") || has(n, "batchnorm"))
    return "normalization";
  if (has(n, "::mm") || has(n, "addmm") || has(n, "bmm") || has(n, "matmul") || has(n, "linear") ||
      has(n, "attention") || has(n, "softmax") || has(n, "mmbackward"))
    return "matmul/attention";
  if (has(n, "copy") || has(n, "::cat") || has(n, "index") || has(n, "clone") || has(n, "contiguous") ||
      has(n, "::to") || has(n, "permute") || has(n, "transpose") || has(n, "view") || has(n, "reshape") ||
      has(n, "expand") || has(n, "empty") || has(n, "stack") || has(n, "slice") || has(n, "select") ||
      has(n, "upsample") || has(n, "pad"))
    return "copy/layout";
  if (n.rfind("aten::", 0) == 0) return "elementwise";
  return "other";
}

void OpProfile::start() {
  prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU));
  on_ = true;
  t0_ = now_s();
  cpu0_ = process_cpu_s();
}

OpProfile::~OpProfile() {
  if (on_) try {
      prof::disableProfilerLegacy();
    } catch (...) {  // a destructor after an error: the profile is dropped
    }
}

OpProfileResult OpProfile::stop(int64_t steps) {
  OpProfileResult r;
  r.wall_s = now_s() - t0_;
  r.cpu_s = process_cpu_s() - cpu0_;
  r.steps = steps;
  r.threads = at::get_num_threads();
  const auto lists = prof::disableProfilerLegacy();
  on_ = false;
  std::map<std::string, OpTime> by_name;
  for (const auto& list : lists) {
    // Push/pop pairs nest per thread: an event's self time is its span less its children's spans.
    struct Open {
      const prof::LegacyEvent* push;
      double child_us;
    };
    std::vector<Open> stack;
    for (const auto& e : list) {
      if (e.kindStr() == "push") {
        stack.push_back({&e, 0.0});
      } else if (e.kindStr() == "pop" && !stack.empty()) {
        const auto o = stack.back();
        stack.pop_back();
        const double us = o.push->cpuElapsedUs(e);
        auto& t = by_name[o.push->name()];
        t.name = o.push->name();
        t.self_s += std::max(0.0, us - o.child_us) * 1e-6;
        ++t.calls;
        if (stack.empty()) {
          r.in_ops_s += us * 1e-6;
        } else {
          stack.back().child_us += us;
        }
      }
    }
  }
  std::map<std::string, double> kinds;
  for (auto& [n, t] : by_name) {
    kinds[op_kind(n)] += t.self_s;
    r.ops.push_back(std::move(t));
  }
  std::sort(r.ops.begin(), r.ops.end(), [](const OpTime& a, const OpTime& b) { return a.self_s > b.self_s; });
  r.kinds.assign(kinds.begin(), kinds.end());
  std::sort(r.kinds.begin(), r.kinds.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return r;
}

nlohmann::json OpProfileResult::to_json() const {
  nlohmann::json j = {{"steps", steps},   {"wall_s", wall_s},   {"in_ops_s", in_ops_s},
                      {"cpu_s", cpu_s},   {"threads", threads}, {"kinds", nlohmann::json::object()},
                      {"ops", nlohmann::json::array()}};
  for (const auto& [k, s] : kinds) j["kinds"][k] = s;
  for (const auto& o : ops) j["ops"].push_back({{"name", o.name}, {"self_s", o.self_s}, {"calls", o.calls}});
  return j;
}

std::string OpProfileResult::markdown(const std::string& title, std::size_t top) const {
  const double per = steps > 0 ? 1.0 / static_cast<double>(steps) : 0.0;
  const auto pct = [&](double s) { return wall_s > 0 ? 100.0 * s / wall_s : 0.0; };
  std::string s = fmt::format(
      "# Profile: {}\n\n{} steps profiled: {:.3f} s wall per step (the profiler's own overhead included), "
      "{:.3f} s of it inside operators, {:.3f} s outside; CPU time {:.3f} s per step = {:.0f}% of wall x {} "
      "intra-op threads.\n\n| kind | self s/step | % of wall |\n|---|---|---|\n",
      title, steps, wall_s * per, in_ops_s * per, (wall_s - in_ops_s) * per, cpu_s * per,
      wall_s > 0 && threads > 0 ? 100.0 * cpu_s / (wall_s * static_cast<double>(threads)) : 0.0, threads);
  for (const auto& [k, v] : kinds) s += fmt::format("| {} | {:.4f} | {:.1f} |\n", k, v * per, pct(v));
  s += fmt::format("| (outside operators) | {:.4f} | {:.1f} |\n", (wall_s - in_ops_s) * per, pct(wall_s - in_ops_s));
  s += "\n| operator | kind | calls/step | self s/step | % of wall |\n|---|---|---|---|---|\n";
  for (std::size_t i = 0; i < std::min(top, ops.size()); ++i)
    s += fmt::format("| `{}` | {} | {:.1f} | {:.4f} | {:.1f} |\n", ops[i].name, op_kind(ops[i].name),
                     static_cast<double>(ops[i].calls) * per, ops[i].self_s * per, pct(ops[i].self_s));
  return s;
}

}  // namespace osv
