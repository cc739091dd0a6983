// What every `osvbench` sub-command shares: the common options (preset, config file, runs folder,
// device, threads, seed, dry run, key=value overrides), how they resolve to a Config, and the
// registration of one sub-command (each lives in its own harness/*_command.cpp and adds itself
// with an add_*_command function; harness/cli.cpp only builds the app, parses and maps errors to
// exit codes).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"

namespace CLI {
class App;
}

namespace osv {

// Options every run-producing sub-command shares.
struct CommonOptions {
  std::string preset = "small";
  std::string config_file;
  std::vector<std::string> overrides;
  std::string runs;
  std::string device;
  int threads = -1;
  long long seed = -1;
  bool dry_run = false;
};

void add_common(CLI::App* app, CommonOptions& c);

// Resolves the config from the common options; `sugar` are overrides that dedicated options
// (--steps, --method, ...) expand to, applied before the positional ones; `defaults` go under
// everything the user set (a method's own sampling defaults).
Config resolve_config(const CommonOptions& c, const std::vector<std::string>& sugar,
                      const std::vector<std::string>& defaults = {});

// --dry-run: the resolved config, its hash and run directory.
void print_dry_run(const Config& cfg);

// "a, b,,c" -> {"a", "b", "c"}.
std::vector<std::string> comma_list(const std::string& s);

// --cfg: "3.0" -> CFG on with that w_max; "none" -> CFG off.
std::vector<std::string> cfg_overrides(const std::string& cfg);

// The overrides that select one (method, sampler, steps, cfg) row of compare/ablate/regress.
std::vector<std::string> row_sugar(const std::string& method, const std::string& sampler, const std::string& steps,
                                   const std::string& cfg);

// The sub-commands, each added to `app` with what runs it once parsed (it returns the exit code).
class CommandSet {
 public:
  void add(CLI::App* sub, std::function<int()> run) { entries_.emplace_back(sub, std::move(run)); }
  const std::vector<std::pair<CLI::App*, std::function<int()>>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<CLI::App*, std::function<int()>>> entries_;
};

void add_prepare_command(CLI::App& app, CommandSet& set);    // harness/prepare_command.cpp
void add_train_command(CLI::App& app, CommandSet& set);      // harness/train_command.cpp
void add_sample_command(CLI::App& app, CommandSet& set);     // harness/sample_command.cpp
void add_fvd_command(CLI::App& app, CommandSet& set);        // harness/fvd_command.cpp
void add_compare_command(CLI::App& app, CommandSet& set);    // harness/compare_command.cpp
void add_ablate_command(CLI::App& app, CommandSet& set);     // harness/ablate_command.cpp (and disc-cost)
void add_regress_command(CLI::App& app, CommandSet& set);    // harness/regress_command.cpp
void add_report_command(CLI::App& app, CommandSet& set);     // harness/report_command.cpp
void add_reconstruct_command(CLI::App& app, CommandSet& set);  // harness/reconstruct_command.cpp
void add_info_command(CLI::App& app, CommandSet& set);       // harness/info_command.cpp

}  // namespace osv
