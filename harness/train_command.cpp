// `osvbench train`: trains or distils the configured method through its registry entry (a killed
// run resumes from its last checkpoint); methods without a train entry are the embedded SVD's.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <memory>

#include "common/errors.h"
#include "common/text.h"
#include "harness/options.h"
#include "harness/assets.h"
#include "methods/api/registry.h"
#include "methods/svd/svd_pipeline.h"
#include "models/device.h"

namespace osv {

void add_train_command(CLI::App& app, CommandSet& set) {
  struct Args {
    CommonOptions c;
    std::string method, stage = "all";
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("train", "Train or distil a method (resumes a killed run from its last checkpoint)");
  add_common(sub, a->c);
  sub->footer(
      "Checkpoints (<run>/checkpoint.safetensors) are data only: tensors plus JSON counters, safe to share. A "
      "checkpoint.pt from an older version (pickle-based, can execute code) is never loaded; that run restarts.");
  sub->add_option("--method", a->method, "teacher, animatelcm, sfv or osv (config method)");
  sub->add_option("--stage", a->stage, "OSV stage: 1 (LGP), 2 (ACD) or all")->capture_default_str();
  set.add(sub, [a]() -> int {
    if (a->stage != "1" && a->stage != "2" && a->stage != "all")
      throw UsageError(fmt::format("--stage: expected 1, 2 or all, got '{}'", a->stage));
    std::vector<std::string> sugar;
    if (!a->method.empty()) sugar.push_back("method=" + a->method);
    Config cfg = resolve_config(a->c, sugar);
    const auto& m = MethodRegistry::instance().get(cfg.get<std::string>("method"));
    if (std::find(m.stages.begin(), m.stages.end(), a->stage) == m.stages.end())
      throw UsageError(fmt::format("--stage {} does not apply to '{}' (its stages: {})", a->stage, m.name,
                                   join(m.stages, ", ")));
    parse_device(cfg.get<std::string>("device"));
    if (a->c.dry_run) return print_dry_run(cfg), kExitOk;
    if (!m.train && !cfg.get<std::string>("model.path").empty())
      throw UsageError(
          fmt::format("train --method {} trains the embedded SVD models; model.path names a given SVD", m.name));
    const auto svd = ensure_svd_folder(cfg);  // the embedded models are built (prepare) when missing
    if (!m.train) {
      std::cout << m.name << ": " << svd.string() << "\n";
      return kExitOk;
    }
    auto pipe = std::make_shared<SvdPipeline>(svd, cfg);
    std::cout << m.name << ": " << m.train(cfg, pipe, a->stage).string() << "\n";
    return kExitOk;
  });
}

}  // namespace osv
