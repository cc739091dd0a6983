// The training loop every method shares (teacher, embedded VAE and image encoder, OSV stages,
// AnimateLCM, SF-V). A TrainTask makes one optimisation step; the loop around it
//   - seeds torch's default generator from (seed, step) before every step, so the data order and
//     the noise of step n do not depend on where a run was resumed;
//   - logs one JSON line per step to <dir>/metrics.jsonl (step, the task's metrics such as loss
//     and grad_norm, lr, it/s, skipped) and shows progress with an ETA;
//   - counts steps whose loss or gradients were not finite (the task skips their update);
//   - checkpoints atomically to <dir>/checkpoint.safetensors (methods/api/checkpoint.h) every
//     `checkpoint_every` steps and at the end;
//   - resumes from that checkpoint after a crash or kill -9, truncating metrics.jsonl to the
//     checkpointed step so the logged curve continues exactly as an uninterrupted run's.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/config.h"
#include "methods/api/checkpoint.h"
#include "methods/api/optim.h"  // the optimiser tail every task uses

namespace osv {

struct StepOutput {
  std::map<std::string, double> metrics;  // "loss", "grad_norm", "lr", ... (finite or not)
  bool finite = true;                     // false: the task skipped this step's update
  bool disc_skipped = false;              // a GAN task skipped its discriminator update (non-finite)
};

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  // One optimisation step. All randomness must come from torch's default generator.
  virtual StepOutput step(int64_t step) = 0;
  // The whole training state: weights, optimiser moments, EMA copies, counters.
  virtual void save(CheckpointWriter& checkpoint) = 0;
  virtual void load(const CheckpointReader& checkpoint) = 0;
  // Cumulative UNet forward passes of this process, in clips (the modules' own counters,
  // models/unet_svd.h): "student_passes" (the trained UNet, its EMA target included) and
  // "teacher_passes" (the frozen teacher, each CFG branch counted). The loop logs each step's
  // difference to metrics.jsonl under the same names (this rank's; harness/results.h scales by
  // the world size). Tasks without a distilled student return none.
  virtual std::map<std::string, int64_t> unet_passes() const { return {}; }
};

struct TrainLoopOptions {
  std::filesystem::path dir;
  std::string label = "train";
  int64_t steps = 0;
  int64_t checkpoint_every = 100;
  uint64_t seed = 0;
  double progress_interval_s = 10.0;
  int64_t stop_after = -1;  // tests: return after this many steps of this call (a simulated crash)
  // A run whose skipped generator or discriminator updates exceed this share of its steps is not
  // finished: run_training throws at its end (the checkpoint stays; nothing is marked done).
  double max_skipped_share = 0.1;
  // Steps after this call's first to run under the op profiler (methods/api/op_profile.h): writes
  // <dir>/profile.md and profile.json (rank 0). 0 = none. Their logged it/s include its overhead.
  int64_t profile_steps = 0;
};

struct TrainSummary {
  int64_t resumed_from = 0;      // step the run resumed at (0 = fresh)
  int64_t steps_done = 0;        // steps made by this call
  int64_t total_steps = 0;       // steps of the run so far
  int64_t skipped_nonfinite = 0; // over the whole run
  int64_t skipped_disc = 0;      // discriminator updates skipped, over the whole run
  double seconds = 0;            // this call's wall time
  double final_loss = 0;         // mean loss of the last min(50, steps) finite steps of this call
  bool finished = false;         // total_steps == options.steps
};

TrainSummary run_training(TrainTask& task, const TrainLoopOptions& options);

// A cached training stage's key must cover every knob the stage read (else a changed knob would
// reuse the old weights): throws std::logic_error naming each hashed config key in `log` that `key`
// does not name. "data." is covered by the data set's identity in every stage key (run_key).
// Called before a stage writes the file that marks it finished.
void check_stage_reads(const std::string& stage, const ConfigReadLog& log, const nlohmann::json& key,
                       const std::vector<std::string>& covered = {"data."});

// A cached training run, the skeleton every trained stage shares. `done` (a file in `dir`, written
// last) marks it finished. Another process training the same run is waited for; a finished run is
// reused ("<label>: cached in <dir>", returns false). Otherwise `dir` is created, key.json written,
// and `train` runs with the config reads recorded; it returns the step that writes `done`, which runs
// only after every read was checked against `key` (check_stage_reads). Returns true when it trained.
bool cached_run(const std::filesystem::path& dir, const std::filesystem::path& done, const nlohmann::json& key,
                const std::string& label, const std::function<std::function<void()>()>& train);

// Options from a config: run.checkpoint_every, seed, run.progress_interval_s.
TrainLoopOptions train_loop_options(const Config& config, const std::filesystem::path& dir, const std::string& label,
                                    int64_t steps);

// Data-parallel training (dist/, launched by torchrun). Call after backward and before the
// optimiser step: averages the gradients of `params` over the ranks (a parameter without a
// gradient counts as zeros; a rank whose loss was not finite contributes zeros) and `*loss` (the
// logged metric), and returns whether every rank's loss was finite — false makes every rank skip
// the update, so the ranks never diverge. A non-finite gradient on one rank makes the average
// non-finite on all, which the caller's grad-norm check then skips everywhere. One process:
// returns `finite` and touches nothing.
bool sync_gradients(const std::vector<torch::Tensor>& params, bool finite, double* loss = nullptr);

// Data-parallel draws. A task draws its random numbers for the whole global batch on every rank
// (same generator, same state) and keeps this rank's rows, so N ranks see exactly the rows and
// the noise one process sees for the same global batch. `global_batch` rows -> this rank's.
torch::Tensor local_rows(const torch::Tensor& global_batch);
// This rank's rows of a standard normal drawn for the global batch; `local` has this rank's rows.
torch::Tensor randn_rows(const torch::Tensor& local);

// The number of data-parallel ranks (1 without a process group).
int world_size();
// Data parallel, for a run's summary file: {"world_size", "global_batch", "per_rank_batch"}.
nlohmann::json data_parallel_json(int64_t global_batch);
// Whether this process writes a run's files: rank 0 of a process group (always, without one).
bool writes_run_files();

// Shared helpers for tasks.
bool all_finite(const torch::Tensor& t);

}  // namespace osv
