// `osvbench compare`: samples and scores every (method, sampler, steps, cfg) of a grid and writes
// the result (osvbench.compare/1) in the formats --format names, under a folder keyed by the grid.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>

#include "common/errors.h"
#include "common/sha256.h"
#include "common/text.h"
#include "dist/dist.h"
#include "harness/options.h"
#include "harness/results.h"
#include "harness/rows.h"
#include "methods/api/registry.h"
#include "reports/provenance.h"

namespace osv {
namespace fs = std::filesystem;
namespace {

struct CompareArgs {
  CommonOptions c;
  std::string methods = "teacher,animatelcm,sfv,osv", steps = "1,2,8,25", samplers, cfg, format = "md,json,html", out;
  std::vector<std::string> steps_for;  // "METHOD=LIST": that method's step counts instead of --steps
  long long budget = 0;
  bool budget_matched = false;
};

std::vector<std::string> positive_steps(const std::string& list, const std::string& option) {
  const auto steps = comma_list(list);
  if (steps.empty()) throw UsageError(fmt::format("{}: expected a comma list of step counts, got '{}'", option, list));
  for (const auto& s : steps)
    if (auto v = parse_int(s); !v || *v < 1)
      throw UsageError(fmt::format("{}: expected positive integers, got '{}'", option, s));
  return steps;
}

// The student optimiser steps a method trains under a config (the sum of its registered budget
// keys; OSV: both stages); times train.batch, which every method reads, the clip-steps budget
// compare equalises. -1 for a method without a budget (the teacher).
int64_t student_steps(const Config& c, const std::string& method) {
  const auto& keys = MethodRegistry::instance().get(method).budget_keys;
  if (keys.empty()) return -1;
  int64_t n = 0;
  for (const auto& k : keys) n += c.get<long long>(k);
  return n;
}

// --budget N: every method with a budget trains N student steps (x train.batch), split between its
// budget keys in the ratio the config has (OSV small: 200 : 400). Refused where the user set one of
// the keys it sets.
std::vector<std::string> budget_overrides(const CommonOptions& c, long long n) {
  CommonOptions bare = c;
  bare.overrides.clear();
  const Config plain = resolve_config(bare, {}), mine = resolve_config(c, {});
  std::vector<std::string> out;
  for (const auto& name : MethodRegistry::instance().names()) {
    const auto& keys = MethodRegistry::instance().get(name).budget_keys;
    if (keys.empty()) continue;
    if (n < static_cast<long long>(keys.size()))  // every stage at least one step
      throw UsageError(fmt::format("--budget: expected at least {} student steps ({} splits them between {}), got {}",
                                   keys.size(), name, join(keys, ", "), n));
    long long total = 0;
    for (const auto& k : keys) {
      if (plain.get<long long>(k) != mine.get<long long>(k))
        throw UsageError(fmt::format("--budget sets {}; drop the {}={} override", k, k, mine.get<long long>(k)));
      total += mine.get<long long>(k);
    }
    if (total <= 0)
      throw UsageError(fmt::format("--budget: {} has no steps to split N in the ratio of ({} are all 0 in this config)",
                                   name, join(keys, ", ")));
    long long left = n;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto later = static_cast<long long>(keys.size() - i - 1);
      const long long share =
          later == 0 ? left
                     : std::clamp<long long>(std::llround(static_cast<double>(n) * mine.get<long long>(keys[i]) / total), 1,
                                             left - later);
      out.push_back(fmt::format("{}={}", keys[i], share));
      left -= share;
    }
  }
  return out;
}

int run(const CompareArgs& a_in) {
  CompareArgs a = a_in;
  if (a.budget != 0)
    for (auto& o : budget_overrides(a.c, a.budget)) a.c.overrides.push_back(std::move(o));
  const auto steps = positive_steps(a.steps, "--steps");
  const auto formats = parse_formats(comma_list(a.format));
  const auto methods = comma_list(a.methods);
  std::map<std::string, std::vector<std::string>> steps_for;  // --steps-for METHOD=LIST
  for (const auto& sf : a.steps_for) {
    const auto eq = sf.find('=');
    if (eq == std::string::npos) throw UsageError(fmt::format("--steps-for: expected METHOD=LIST (osv=1,2), got '{}'", sf));
    const auto m = sf.substr(0, eq);
    if (std::find(methods.begin(), methods.end(), m) == methods.end())
      throw UsageError(fmt::format("--steps-for: '{}' is not one of --methods ({})", m, join(methods, ", ")));
    if (steps_for.count(m)) throw UsageError(fmt::format("--steps-for: {} given twice", m));
    steps_for[m] = positive_steps(sf.substr(eq + 1), "--steps-for " + m);
  }
  // llama-bench style: the Cartesian product of every list, one run config per row (per method,
  // its --steps-for list where it has one).
  Grid grid = expand_grid(
      methods, comma_list(a.samplers), steps, comma_list(a.cfg),
      [&](const std::string& m, const std::string& s, const std::string& st, const std::string& cf) {
        return resolve_config(a.c, row_sugar(m, s, st, cf));
      },
      steps_for);
  if (grid.rows.empty())
    throw UsageError("compare: no (method, sampler) combination applies" +
                     (grid.refused.empty() ? std::string() : ": " + join(grid.refused, "; ")));
  if (a.budget_matched) {  // refuse a grid whose distilled methods train unequal budgets
    std::map<std::string, int64_t> budgets;
    for (const auto& r : grid.rows)
      if (const auto n = student_steps(r.config, r.method); n >= 0)
        budgets[r.method] = n * r.config.get<long long>("train.batch");
    std::string list;
    for (const auto& [m, b] : budgets) list += fmt::format("{}{} {}", list.empty() ? "" : ", ", m, b);
    for (const auto& [m, b] : budgets)
      if (b != budgets.begin()->second)
        throw UsageError("--budget-matched: the distilled methods train unequal budgets (student steps x "
                         "train.batch): " + list + "; --budget N sets one");
  }
  if (a.c.dry_run) {
    std::cout << "| method | sampler | steps | cfg | config hash |\n|---|---|---|---|---|\n";
    for (const auto& r : grid.rows)
      std::cout << fmt::format("| {} | {} | {} | {} | {} |\n", r.method, r.sampler, r.steps, r.cfg, r.config.short_hash());
    std::cout << grid.rows.size() << " runs planned\n";
    return kExitOk;
  }
  const Config& base = grid.rows.front().config;
  const fs::path root = base.get<std::string>("run.root");
  // Keyed by the whole grid (every row's config hash, in order): `--steps 1,2` and `--steps 1,4`
  // write different folders.
  std::string key;
  for (const auto& r : grid.rows) key += r.config.hash() + "\n";
  const fs::path out = a.out.empty() ? root / ("compare-" + sha256_hex(key).substr(0, 12)) : fs::path(a.out);
  const bool jsonl = std::find(formats.begin(), formats.end(), "jsonl") != formats.end();
  auto run = run_rows(grid.rows, out, std::move(grid.refused), jsonl);
  if (!dist::is_main()) return kExitOk;  // a process group: rank 0 prints and writes
  CompareResult result;
  result.rows = run.results;
  for (auto& r : result.rows) add_train_cost(r, true);  // the training cost next to the FVD
  result.refused = run.refused;
  result.provenance = provenance(base);
  std::cout << result_printer("md").render(result, root);
  std::vector<std::string> files = formats;
  if (result.rows.empty()) files.erase(std::remove(files.begin(), files.end(), "html"), files.end());
  for (const auto& f : write_result(result, files, out, "results", root)) std::cout << "wrote " << f.string() << "\n";
  if (result.rows.empty()) throw NotImplementedError("compare: none of the requested rows could run (see refused)");
  return kExitOk;
}

}  // namespace

void add_compare_command(CLI::App& app, CommandSet& set) {
  auto a = std::make_shared<CompareArgs>();
  auto* sub = app.add_subcommand(
      "compare", "Sample and score every (method, sampler, steps, cfg) combination; comma lists expand to a grid");
  add_common(sub, a->c);
  sub->add_option("--methods", a->methods, "comma list of methods")->capture_default_str();
  sub->add_option("--steps", a->steps, "comma list of step counts")->capture_default_str();
  sub->add_option("--steps-for", a->steps_for,
                  "METHOD=LIST: that method's step counts instead of --steps (repeatable), e.g. --steps-for "
                  "osv=1,2 --steps-for sfv=1 for the paper's Table 1 rows");
  sub->add_option("--samplers", a->samplers, "comma list of samplers (default: each method's own)");
  sub->add_option("--cfg", a->cfg, "comma list of CFG w_max values or 'none' (default: each method's own)");
  sub->add_option("--format", a->format,
                  "comma list of md (results.md), json (results.json), jsonl (results.jsonl, one row per line, "
                  "appended as rows finish) and html (report.html); the table is always printed")
      ->capture_default_str();
  sub->add_option("--out", a->out, "folder for the results (default: <runs>/compare-<grid hash>)");
  sub->add_option("--budget", a->budget,
                  "train every distilled method N student optimiser steps x train.batch (OSV splits them "
                  "between its stages in the config's ratio); default: the preset's (small: 600 for each)");
  sub->add_flag("--budget-matched", a->budget_matched,
                "refuse to run when the distilled methods' budgets (student steps x train.batch) differ");
  set.add(sub, [a] { return run(*a); });
}

}  // namespace osv
