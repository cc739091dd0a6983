// `osvbench compare`: samples and scores every (method, sampler, steps, cfg) of a grid and writes
// the result (osvbench.compare/1) in the formats --format names, under a folder keyed by the grid.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "common/errors.h"
#include "common/sha256.h"
#include "common/text.h"
#include "dist/dist.h"
#include "harness/options.h"
#include "harness/results.h"
#include "harness/rows.h"
#include "reports/provenance.h"

namespace osv {
namespace fs = std::filesystem;
namespace {

struct CompareArgs {
  CommonOptions c;
  std::string methods = "teacher,animatelcm,sfv,osv", steps = "1,2,8,25", samplers, cfg, format = "md,json,html", out;
};

int run(const CompareArgs& a) {
  const auto steps = comma_list(a.steps);
  const auto formats = parse_formats(comma_list(a.format));
  for (const auto& s : steps)
    if (auto v = parse_int(s); !v || *v < 1) throw UsageError(fmt::format("--steps: expected positive integers, got '{}'", s));
  // llama-bench style: the Cartesian product of every list, one run config per row.
  auto grid = expand_grid(comma_list(a.methods), comma_list(a.samplers), steps, comma_list(a.cfg),
                          [&](const std::string& m, const std::string& s, const std::string& st, const std::string& cf) {
                            return resolve_config(a.c, row_sugar(m, s, st, cf));
                          });
  if (grid.rows.empty())
    throw UsageError("compare: no (method, sampler) combination applies" +
                     (grid.refused.empty() ? std::string() : ": " + join(grid.refused, "; ")));
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
  sub->add_option("--samplers", a->samplers, "comma list of samplers (default: each method's own)");
  sub->add_option("--cfg", a->cfg, "comma list of CFG w_max values or 'none' (default: each method's own)");
  sub->add_option("--format", a->format,
                  "comma list of md (results.md), json (results.json), jsonl (results.jsonl, one row per line, "
                  "appended as rows finish) and html (report.html); the table is always printed")
      ->capture_default_str();
  sub->add_option("--out", a->out, "folder for the results (default: <runs>/compare-<grid hash>)");
  set.add(sub, [a] { return run(*a); });
}

}  // namespace osv
