// `osvbench prepare`: builds the embedded default's assets (harness/assets.h).

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "common/config.h"
#include "common/dir_lock.h"
#include "common/errors.h"
#include "common/text.h"
#include "common/log.h"
#include "common/sha256.h"
#include "datasets/clip_set.h"
#include "datasets/synthetic.h"
#include "harness/assets.h"
#include "harness/options.h"

namespace osv {
namespace fs = std::filesystem;

void add_prepare_command(CLI::App& app, CommandSet& set) {
  struct Args {
    CommonOptions c;
    std::string only;
    bool force = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "prepare", "Build the embedded default's assets from scratch: VAE, image encoder, teacher, FVD detector");
  add_common(sub, a->c);
  sub->add_option("--only", a->only, "comma list of assets: data,detector,vae,image_encoder,teacher,backbone");
  sub->add_flag("--force", a->force, "rebuild assets even when cached");
  set.add(sub, [a]() -> int {
    const std::vector<std::string> known = {"backbone", "data", "detector", "image_encoder", "teacher", "vae"};
    for (const auto& x : comma_list(a->only))
      if (std::find(known.begin(), known.end(), x) == known.end())
        throw UsageError(fmt::format("--only: unknown asset '{}'{}", x, did_you_mean(x, known)));
    Config cfg = resolve_config(a->c, {});
    if (a->c.dry_run) return print_dry_run(cfg), kExitOk;
    prepare_assets(cfg, comma_list(a->only), a->force);
    return kExitOk;
  });
}

}  // namespace osv
