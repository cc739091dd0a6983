#include "harness/cli.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <set>
#include <string>

#include "common/build_info.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/text.h"
#include "dist/dist.h"
#include "harness/builtin_methods.h"
#include "harness/options.h"
#include "reports/provenance.h"

namespace osv {
namespace {

constexpr const char* kExitCodes =
    "Exit codes: 0 success, 1 runtime failure, 2 usage error (unknown command/option/key, bad value),\n"
    "            3 not implemented yet, 4 bad input data or checkpoint,\n"
    "            5 regress only: not comparable (this machine's assets are other bits than the baseline's).\n"
    "Config overrides are key=value pairs after the options (`osvbench info --config-keys` lists the keys);\n"
    "a unique key suffix works too: steps=8 means sample.steps=8.";

// Rejects a first argument that looks like a sub-command but is none, with a suggestion.
void check_subcommand_name(int argc, char** argv, const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* s : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(s->get_name());
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--log-level") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] == '-') continue;
    if (std::find(names.begin(), names.end(), a) == names.end())
      throw UsageError(fmt::format("unknown sub-command '{}'{}; sub-commands: {}", a, did_you_mean(a, names),
                                   join(names, ", ")));
    return;
  }
}

}  // namespace

int run_cli(int argc, char** argv) {
  register_builtin_methods();
  if (!log::init_from_env()) std::fprintf(stderr, "osvbench: warning: ignoring invalid OSVBENCH_LOG value\n");

  CLI::App app{
      "osvbench: trains, samples and evaluates fast image-to-video diffusion (OSV, AnimateLCM, SF-V and the\n"
      "Stable Video Diffusion teacher) behind one method interface, with an I3D-based FVD.",
      "osvbench"};
  app.set_version_flag("--version", [] {
    return fmt::format("osvbench {}\ntorch {}", version_string(), build_info().torch_headers);
  });
  app.footer(kExitCodes);
  app.require_subcommand(1);
  std::string log_level;
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off (env OSVBENCH_LOG)");

  // Each sub-command lives in its own file (harness/*_command.cpp) and adds itself here.
  CommandSet commands;
  add_prepare_command(app, commands);
  add_train_command(app, commands);
  add_sample_command(app, commands);
  add_fvd_command(app, commands);
  add_compare_command(app, commands);
  add_reconstruct_command(app, commands);
  add_ablate_command(app, commands);
  add_regress_command(app, commands);
  add_report_command(app, commands);
  add_info_command(app, commands);

  try {
    if (argc <= 1) {
      std::cout << app.help();
      return kExitUsage;
    }
    check_subcommand_name(argc, argv, app);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "osvbench: error: " << e.what() << "\nRun with --help for more information.\n";
    return kExitUsage;
  } catch (const UsageError& e) {
    std::cerr << "osvbench: error: " << e.what() << "\n";
    return kExitUsage;
  }

  try {
    if (!log_level.empty()) {
      auto l = log::parse_level(log_level);
      if (!l) throw UsageError(fmt::format("--log-level: expected trace, debug, info, warn, error or off, got '{}'",
                                           log_level));
      log::set_level(*l);
    }
    // torchrun (or Slurm) launched this process as one rank of a group: join it before any work.
    dist::init();
    if (dist::rank() != 0 && log_level.empty()) log::set_level(log::Level::warn);  // rank 0 tells the story
    for (const auto& [sub, run] : commands.entries()) {
      if (!sub->parsed()) continue;
      // What runs as a process group: training (prepare, train), FVD statistics and the rows
      // runners (compare, ablate, regress: clips split across the ranks). sample writes one folder
      // of videos and is refused rather than run N times.
      const auto* parent = sub->get_parent();
      const std::string name =
          (parent && parent->get_parent() ? parent->get_name() + " " : std::string()) + sub->get_name();
      static const std::set<std::string> grouped = {"train",   "prepare", "fvd stats", "fvd compute",
                                                    "compare", "ablate",  "regress",   "info"};
      if (dist::world() > 1 && !grouped.count(name))
        throw UsageError(fmt::format("`osvbench {}` does not run as a process group yet (WORLD_SIZE={}); run it as "
                                     "one process. Data-parallel: prepare, train, fvd stats, fvd compute, compare, "
                                     "ablate, regress",
                                     name, dist::world()));
      return run();
    }
    std::cerr << app.help();
    return kExitUsage;
  } catch (const UsageError& e) {
    std::cerr << "osvbench: error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const NotImplementedError& e) {
    std::cerr << "osvbench: not implemented: " << e.what() << "\n";
    return kExitNotImplemented;
  } catch (const InputError& e) {
    std::cerr << "osvbench: bad input: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "osvbench: failed: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace osv
