#include "methods/api/train_loop.h"

#include "methods/api/op_profile.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/config.h"
#include "common/dir_lock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/progress.h"
#include "dist/dist.h"

namespace osv {
namespace fs = std::filesystem;

bool all_finite(const torch::Tensor& t) { return torch::isfinite(t).all().item<bool>(); }

namespace {
// Fault injection for the tests (OSVBENCH_FAULT_NONFINITE=RANK:STEP[:local]): on rank RANK, every
// gradient update of step STEP sees a NaN gradient, as after an overflow on that rank alone. With
// ":local" (a planted bug, to show the tests can see one) each rank decides from its own gradients
// whether to skip instead of the group agreeing, so the ranks diverge. A test hook, not a knob: the
// runs it touches are cached under the keys of clean runs, so the tests give it a fresh --runs.
struct NonfiniteFault {
  int rank = -1;
  int64_t step = -1;
  bool local = false;
};
NonfiniteFault nonfinite_fault() {
  NonfiniteFault f;
  const char* e = std::getenv("OSVBENCH_FAULT_NONFINITE");
  if (!e || !*e) return f;
  char mode[16] = {0};
  long long step = -1;
  const int n = std::sscanf(e, "%d:%lld:%15s", &f.rank, &step, mode);
  if (n < 2 || (n == 3 && std::string(mode) != "local"))
    throw UsageError(fmt::format("OSVBENCH_FAULT_NONFINITE='{}': expected RANK:STEP or RANK:STEP:local", e));
  f.step = step;
  f.local = n == 3;
  return f;
}
bool g_poison_step = false;  // this rank's gradients of the current step are made non-finite
bool g_poison_local = false;

// Every rank's whole training state (tensors and counters) by digest, compared with rank 0's (a
// collective); throws naming the first rank that differs.
void check_same_state(TrainTask& task, const std::string& label, const std::string& when) {
  CheckpointWriter state;
  task.save(state);
  const auto digests = dist::all_gather(state.digest());
  for (std::size_t r = 1; r < digests.size(); ++r)
    if (digests[r] != digests.front())
      throw std::runtime_error(fmt::format("{}: rank {}'s training state differs from rank 0's {} (sha256 {} vs {})",
                                           label, r, when, digests[r].substr(0, 12), digests.front().substr(0, 12)));
}
}  // namespace

bool sync_gradients(const std::vector<torch::Tensor>& params, bool finite, double* loss) {
  if (g_poison_step && finite) {
    torch::NoGradGuard g;
    for (const auto& p : params)
      if (p.grad().defined() && p.grad().numel() > 0) {
        p.mutable_grad().fill_(std::numeric_limits<double>::quiet_NaN());  // any layout
        break;
      }
    if (g_poison_local) finite = false;  // the planted bug: this rank sees its NaN and decides alone
  }
  if (dist::world() == 1) return finite;
  torch::NoGradGuard g;
  std::vector<torch::Tensor> bucket;
  bucket.reserve(params.size() + 2);
  for (const auto& p : params) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    else if (!finite) p.mutable_grad().zero_();
    bucket.push_back(p.grad());
  }
  auto flag = torch::full({1}, finite ? 1.0 : 0.0, torch::kFloat64);
  auto mean_loss = torch::full({1}, loss && finite ? *loss : 0.0, torch::kFloat64);
  bucket.push_back(flag);
  bucket.push_back(mean_loss);
  dist::all_reduce_mean(bucket);
  const bool all = flag.item<double>() == 1.0;  // the mean of 0/1 flags is 1 only when every rank's was 1
  if (loss && all) *loss = mean_loss.item<double>();
  return g_poison_local ? finite : all;
}

torch::Tensor local_rows(const torch::Tensor& global_batch) { return dist::local_rows(global_batch); }

nlohmann::json data_parallel_json(int64_t global_batch) {
  return {{"world_size", dist::world()}, {"global_batch", global_batch}, {"per_rank_batch", global_batch / dist::world()}};
}

bool writes_run_files() { return dist::is_main(); }

int world_size() { return dist::world(); }

torch::Tensor randn_rows(const torch::Tensor& local) {
  if (dist::world() == 1) return torch::randn_like(local);
  auto sizes = local.sizes().vec();
  sizes[0] *= dist::world();
  // In the memory layout randn_like gives `local` (channels-last for the VAE's posterior, a channel
  // slice of a channels-last tensor): the normal draw fills memory in order, so the layout decides
  // which value lands at which element, and one process draws randn_like of the global batch.
  auto global = torch::empty(sizes, local.options().memory_format(local.suggest_memory_format()));
  global.normal_();
  return dist::local_rows(global);
}

bool cached_run(const std::filesystem::path& dir, const std::filesystem::path& done, const nlohmann::json& key,
                const std::string& label, const std::function<std::function<void()>()>& train) {
  // A process group trains as one: rank 0 holds the lock and decides whether the run is cached;
  // every rank trains; only rank 0 writes the finished files, and the others wait for them.
  const auto lock = lock_unless_done(done, dir / ".lock", label + ": training " + dir.filename().string());
  bool cached = std::filesystem::exists(done);
  if (dist::world() > 1) cached = dist::all_gather(cached ? "1" : "0").front() == "1";
  if (cached) {
    log::info("{}: cached in {}", label, dir.string());
    return false;
  }
  std::filesystem::create_directories(dir);
  if (dist::is_main()) atomic_write(dir / "key.json", key.dump(2));
  ConfigReadLog reads;  // what the run reads must be in its key (checked before it is marked done)
  const auto finish = train();
  check_stage_reads(label, reads, key);
  if (dist::is_main()) finish();
  dist::barrier(label + " finished");
  if (!std::filesystem::exists(done)) throw std::logic_error(label + ": finished without writing " + done.string());
  return true;
}

TrainLoopOptions train_loop_options(const Config& c, const fs::path& dir, const std::string& label, int64_t steps) {
  TrainLoopOptions o;
  o.dir = dir;
  o.label = label;
  o.steps = steps;
  o.checkpoint_every = c.get<long long>("run.checkpoint_every");
  o.seed = static_cast<uint64_t>(c.get<long long>("seed"));
  o.progress_interval_s = c.get<double>("run.progress_interval_s");
  o.max_skipped_share = c.get<double>("train.max_skipped_share");
  o.profile_steps = c.get<long long>("run.profile_steps");
  return o;
}

namespace {

// Keeps the lines of metrics.jsonl whose step is < `steps` (a torn last line is dropped).
void truncate_metrics(const fs::path& file, int64_t steps) {
  if (!fs::exists(file)) return;
  std::ifstream in(file);
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      const auto j = nlohmann::json::parse(line);
      if (j.at("step").get<int64_t>() < steps) kept += line + "\n";
    } catch (const std::exception&) {
    }
  }
  atomic_write(file, kept);
}

std::string fmt_metric(double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : "nan"; }

}  // namespace

void check_stage_reads(const std::string& stage, const ConfigReadLog& log, const nlohmann::json& key,
                       const std::vector<std::string>& covered) {
  const auto missing = undeclared_reads(log.keys(), key, covered);
  if (missing.empty()) return;
  std::string names;
  for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
  throw std::logic_error(fmt::format("{} read config keys its cache key does not cover: {}. Add them to the stage's "
                                     "key, else a changed value would reuse weights trained with the old one "
                                     "(nothing was marked finished)",
                                     stage, names));
}

TrainSummary run_training(TrainTask& task, const TrainLoopOptions& o) {
  fs::create_directories(o.dir);
  const fs::path ckpt = o.dir / "checkpoint.safetensors", legacy = o.dir / "checkpoint.pt", metrics = o.dir / "metrics.jsonl";
  TrainSummary s;
  if (fs::exists(legacy)) {
    // A pickle-based archive from an older osvbench: loading it could run code, so it is not read.
    log::warn("{}: {} is an older, pickle-based checkpoint and is not loaded (it could run code); the run "
              "starts again from step 0 and removes it at its first checkpoint",
              o.label, legacy.string());
  }
  if (fs::exists(ckpt)) {
    const auto a = [&] {
      try {
        return CheckpointReader::open(ckpt);
      } catch (const InputError& e) {
        throw InputError(fmt::format("damaged checkpoint ({}); delete it to restart this run", e.what()));
      }
    }();
    try {
      s.resumed_from = a.scalar("loop.step").get<int64_t>();
      s.skipped_nonfinite = a.scalar("loop.skipped").get<int64_t>();
      s.skipped_disc = a.scalar("loop.skipped_disc").get<int64_t>();
    } catch (const nlohmann::json::exception& e) {
      throw InputError(fmt::format("{}: damaged checkpoint ({}); delete it to restart this run", ckpt.string(),
                                   e.what()));
    }
    task.load(a);
    log::info("{}: resuming at step {}/{} from {}", o.label, s.resumed_from, o.steps, ckpt.string());
  }
  const bool main = dist::is_main();  // in a process group only rank 0 writes; every rank resumes from its file
  if (dist::world() > 1) {
    const auto at = dist::all_gather(std::to_string(s.resumed_from));
    for (std::size_t r = 0; r < at.size(); ++r)
      if (at[r] != at.front())
        throw std::runtime_error(fmt::format("{}: rank {} resumes at step {} but rank 0 at step {} (do the ranks "
                                             "share one runs folder?)",
                                             o.label, r, at[r], at.front()));
    // Every rank starts from rank 0's training state: its tensors (weights, EMA copies, optimiser
    // moments) are broadcast into every rank's, then the whole state (with the counters) is compared
    // by digest, so a state the broadcast could not reach stops the run instead of diverging.
    {
      CheckpointWriter state;
      task.save(state);
      std::vector<torch::Tensor> tensors;
      for (const auto& [name, t] : state.entries()) tensors.push_back(t);
      torch::NoGradGuard no_grad;
      dist::broadcast(tensors, 0);
    }
    check_same_state(task, o.label, "after the broadcast");
  }
  if (main) truncate_metrics(metrics, s.resumed_from);
  auto save = [&](int64_t steps_done) {
    if (!main) return;
    CheckpointWriter a;
    a.scalar("loop.step", steps_done);
    a.scalar("loop.skipped", s.skipped_nonfinite);
    a.scalar("loop.skipped_disc", s.skipped_disc);
    task.save(a);
    a.save(ckpt);
    if (fs::exists(legacy)) fs::remove(legacy);
  };

  std::ofstream log_out;
  if (main) log_out.open(metrics, std::ios::app);
  Progress::Options po;
  po.interval_s = o.progress_interval_s;
  Progress bar(o.steps - s.resumed_from,
               s.resumed_from > 0 ? fmt::format("{} (from step {})", o.label, s.resumed_from) : o.label, po);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<double> recent;
  int64_t step = s.resumed_from;
  const NonfiniteFault fault = nonfinite_fault();
  g_poison_local = fault.local;
  struct ClearFault {  // the hook's flags end with this call, however it ends
    ~ClearFault() { g_poison_step = g_poison_local = false; }
  } clear_fault;
  // run.profile_steps: the steps after this call's first (a warm-up) run under the op profiler.
  OpProfile profiler;
  int64_t profiled = 0;
  const auto finish_profile = [&] {
    const auto r = profiler.stop(profiled);
    if (!main) return;
    atomic_write(o.dir / "profile.json", r.to_json().dump(2));
    atomic_write(o.dir / "profile.md", r.markdown(o.label));
    std::string kinds;
    for (const auto& [k, v] : r.kinds) kinds += fmt::format("{}{} {:.0f}%", kinds.empty() ? "" : ", ", k, 100 * v / r.wall_s);
    log::info("{}: profiled {} steps, {:.3f} s each: {}, outside operators {:.0f}% ({})", o.label, profiled,
              r.wall_s / static_cast<double>(profiled), kinds, 100 * (r.wall_s - r.in_ops_s) / r.wall_s,
              (o.dir / "profile.md").string());
  };
  for (; step < o.steps; ++step) {
    if (o.stop_after >= 0 && s.steps_done >= o.stop_after) break;
    if (o.profile_steps > 0 && step == s.resumed_from + 1) profiler.start();
    torch::manual_seed(o.seed * 1000003ULL + static_cast<uint64_t>(step));
    const auto ts = std::chrono::steady_clock::now();
    g_poison_step = fault.rank == dist::rank() && fault.step == step;
    if (g_poison_step) log::warn("{}: step {}: a NaN gradient is planted on rank {} (OSVBENCH_FAULT_NONFINITE)", o.label, step, fault.rank);
    const auto passes_before = task.unet_passes();
    StepOutput out = task.step(step);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
    if (!out.finite) {
      ++s.skipped_nonfinite;
      log::warn("{}: step {} skipped (non-finite loss or gradients)", o.label, step);
    }
    if (out.disc_skipped) {
      ++s.skipped_disc;
      log::warn("{}: step {}: discriminator update skipped (non-finite loss or gradients)", o.label, step);
    }
    nlohmann::json j = {{"step", step}, {"it_per_s", dt > 0 ? 1.0 / dt : 0.0}, {"skipped", s.skipped_nonfinite},
                        {"skipped_disc", s.skipped_disc}};
    for (const auto& [k, v] : out.metrics) j[k] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
    for (const auto& [k, v] : task.unet_passes()) {
      const auto b = passes_before.find(k);
      j[k] = v - (b == passes_before.end() ? 0 : b->second);
    }
    if (main) {
      log_out << j.dump() << "\n";
      log_out.flush();
    }
    ++s.steps_done;
    if (out.finite && out.metrics.count("loss")) {
      recent.push_back(out.metrics.at("loss"));
      if (recent.size() > 50) recent.erase(recent.begin());
    }
    if (out.metrics.count("loss")) bar.set_postfix("loss " + fmt_metric(out.metrics.at("loss")));
    bar.advance();
    if (o.profile_steps > 0 && step > s.resumed_from && profiled < o.profile_steps && ++profiled == o.profile_steps)
      finish_profile();
    if ((step + 1) % o.checkpoint_every == 0 || step + 1 == o.steps) save(step + 1);
  }
  if (profiled > 0 && profiled < o.profile_steps) finish_profile();  // the run ended inside the window
  bar.finish();
  // The ranks must end where they started: in one state. A rank that updated when another skipped
  // (or any other divergence) stops the run here, before it is marked finished.
  if (dist::world() > 1) check_same_state(task, o.label, fmt::format("after step {}: the ranks diverged", step));
  s.total_steps = step;
  s.finished = step >= o.steps;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (double v : recent) s.final_loss += v / static_cast<double>(recent.size());
  if (s.finished && s.total_steps > 0) {
    const double share = static_cast<double>(std::max(s.skipped_nonfinite, s.skipped_disc)) /
                         static_cast<double>(s.total_steps);
    if (share > o.max_skipped_share)
      throw std::runtime_error(fmt::format(
          "{}: {} of {} generator and {} discriminator updates were skipped as non-finite ({:.0f}% > "
          "train.max_skipped_share {:.0f}%); the run is not marked finished (its checkpoint and metrics.jsonl "
          "in {} say where it diverged)",
          o.label, s.skipped_nonfinite, s.total_steps, s.skipped_disc, 100 * share, 100 * o.max_skipped_share,
          o.dir.string()));
  }
  return s;
}

}  // namespace osv
