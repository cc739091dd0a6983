#include "harness/options.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>
#include <optional>

#include "common/errors.h"
#include "common/run_dir.h"
#include "common/text.h"
#include "models/numerics.h"

namespace osv {

void add_common(CLI::App* app, CommonOptions& c) {
  app->add_option("--preset", c.preset, "tiny (tests), small (embedded default, CPU) or svd (paper scale, GPU)")
      ->capture_default_str();
  app->add_option("--config", c.config_file, "JSON file of config values, applied after the preset");
  app->add_option("--runs", c.runs, "directory of run directories (config run.root, default ./runs)");
  app->add_option("--device", c.device, "cpu, cuda or cuda:N (config device)");
  app->add_option("--threads", c.threads, "intra-op CPU threads, 0 = torch default (config run.threads)");
  app->add_option("--seed", c.seed, "global seed (config seed)");
  app->add_flag("--dry-run", c.dry_run, "print the resolved config, its hash and run directory; run nothing");
  app->add_option("overrides", c.overrides, "key=value config overrides, applied last");
  app->fallthrough();
}

Config resolve_config(const CommonOptions& c, const std::vector<std::string>& sugar,
                      const std::vector<std::string>& defaults) {
  std::vector<std::string> ov = sugar;
  if (!c.runs.empty()) ov.push_back("run.root=" + c.runs);
  if (!c.device.empty()) ov.push_back("device=" + c.device);
  if (c.threads >= 0) ov.push_back(fmt::format("run.threads={}", c.threads));
  if (c.seed >= 0) ov.push_back(fmt::format("seed={}", c.seed));
  ov.insert(ov.end(), c.overrides.begin(), c.overrides.end());
  std::optional<std::filesystem::path> file;
  if (!c.config_file.empty()) file = c.config_file;
  Config cfg = Config::resolve(c.preset, ov, file, defaults);
  configure_numerics(cfg.get<bool>("run.reproducible"), cfg.get<long long>("run.threads"));
  return cfg;
}

void print_dry_run(const Config& cfg) {
  std::cout << cfg.json().dump(2) << "\n";
  std::cout << "config hash: " << cfg.hash() << "\n";
  std::cout << "run directory: " << RunDir::path_for(cfg).string() << "\n";
}

std::vector<std::string> comma_list(const std::string& s) {
  std::vector<std::string> out;
  for (const auto& p : split(s, ','))
    if (auto t = trim(p); !t.empty()) out.push_back(t);
  return out;
}

std::vector<std::string> cfg_overrides(const std::string& cfg) {
  if (cfg == "none" || cfg == "off") return {"sample.cfg=false"};
  if (!parse_double(cfg)) throw UsageError(fmt::format("--cfg: expected a number (w_max) or 'none', got '{}'", cfg));
  return {"sample.cfg=true", "sample.cfg_max=" + cfg};
}

std::vector<std::string> row_sugar(const std::string& method, const std::string& sampler, const std::string& steps,
                                   const std::string& cfg) {
  std::vector<std::string> sugar = {"method=" + method, "sample.sampler=" + sampler, "sample.steps=" + steps};
  for (auto& o : cfg_overrides(cfg)) sugar.push_back(o);
  return sugar;
}

}  // namespace osv
