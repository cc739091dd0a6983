// `osvbench ablate`: a paper table's rows (1, 2a ... 2h, fidelity), a figure's curves (fig1, fig5)
// or its cost table (fig3, each discriminator path measured by the hidden `disc-cost` sub-command in
// a process of its own), written as osvbench.ablate/1 in the formats --format names.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "common/errors.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/subprocess.h"
#include "common/text.h"
#include "dist/dist.h"
#include "harness/ablate.h"
#include "harness/disc_cost.h"
#include "harness/options.h"
#include "harness/results.h"
#include "harness/rows.h"
#include "reports/provenance.h"

namespace osv {
namespace fs = std::filesystem;
namespace {

// Figure 3: each discriminator path measured by `osvbench disc-cost` in a process of its own (the
// CPU peak memory is the process's RSS), at the preset's sizes on its device and dtype.
int ablate_cost(const CommonOptions& c, const nlohmann::json& table, const std::vector<std::string>& formats) {
  const Config cfg = resolve_config(c, {});
  const bool svd = c.preset == "svd";  // SVD-scale networks; the embedded presets use their own configs
  const auto self = fs::read_symlink("/proc/self/exe");
  std::vector<std::pair<std::string, nlohmann::json>> measured;
  Progress::Options po;
  po.unit = "path";
  po.interval_s = cfg.get<double>("run.progress_interval_s");
  Progress bar(static_cast<int64_t>(table.at("rows").size()), "fig3", po);
  for (const auto& r : table.at("rows")) {
    const auto kind = r.at("kind").get<std::string>();
    bar.set_postfix("now: " + kind);
    // An argument vector, never a shell: every value is one argument whatever characters it holds.
    const std::vector<std::string> argv = {self.string(), "disc-cost", "--kind", kind, "--arch", svd ? "svd" : "embedded",
                                           "--preset", svd ? "small" : c.preset, "--device",
                                           cfg.get<std::string>("device"), "--dtype", cfg.get<std::string>("disc_cost.dtype"),
                                           "--iters", "3"};
    const ProcessResult res = run_process(argv);
    const std::string& out = res.stdout_text;
    // stdout is the one JSON line (logs and errors go to stderr, which passes through).
    const auto j = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
    if (res.exit_code != 0 || !j.is_object())
      throw InputError(fmt::format("disc-cost --kind {} failed (exit {}, signal {}); its output:\n{}", kind,
                                   res.exit_code, res.signal, out));
    measured.emplace_back(r.at("label").get<std::string>(), j);
    bar.advance();
  }
  bar.finish();
  const auto& ref = measured.front().second;
  const std::string mem = ref.contains("peak_cuda_mib") ? "peak_cuda_mib" : "peak_rss_mib";
  const nlohmann::json& pref = table["rows"][0];
  std::string md = fmt::format("{} (reference: {})\nPaper: {}\n\n", table.at("title").get<std::string>(),
                               table.at("reference").get<std::string>(), table.at("paper_claim").get<std::string>());
  md += fmt::format("| path | s/step | vs ref | {} | vs ref | paper s/iter | paper vs ref | paper peak GB | paper vs ref |\n"
                    "|---|---|---|---|---|---|---|---|---|\n", mem == "peak_cuda_mib" ? "peak CUDA MiB" : "peak RSS MiB");
  auto paper = [&](const nlohmann::json& row, const char* k) {
    if (!row[k].is_number()) return std::string("- | -");
    const double v = row[k].get<double>();
    return pref[k].is_number() ? fmt::format("{:.2f} | {:.2f}x", v, v / pref[k].get<double>())
                                  : fmt::format("{:.2f} | -", v);
  };
  for (std::size_t i = 0; i < measured.size(); ++i) {
    const auto& [label, m] = measured[i];
    const auto& row = table["rows"][i];
    md += fmt::format("| {} | {:.3f} | {:.2f}x | {:.0f} | {:.2f}x | {} | {} |\n", label, m["s_per_step"].get<double>(),
                      m["s_per_step"].get<double>() / ref["s_per_step"].get<double>(), m[mem].get<double>(),
                      m[mem].get<double>() / ref[mem].get<double>(), paper(row, "paper_s_per_step"),
                      paper(row, "paper_peak_gb"));
  }
  md += fmt::format("{} x {} frames of {}x{} latents, batch 1, {} on {}, {} timed steps after a warm-up; generator: "
                    "OSV's teacher + LoRA (upsampler, decoder), SF-V's whole UNet (UNet encoder, with R1)\n",
                    ref["arch"].get<std::string>(), ref["frames"].get<int64_t>(), ref["latent"][0].get<int64_t>(),
                    ref["latent"][1].get<int64_t>(), ref["dtype"].get<std::string>(),
                    ref["device"].get<std::string>(), ref["iters"].get<int>());
  std::cout << "\n" << md;
  const fs::path root = cfg.get<std::string>("run.root");
  AblateResult result;
  result.table = table;
  result.markdown = md;
  result.measured = measured;
  result.provenance = provenance(cfg);
  for (const auto& f : write_result(result, formats, root / ("ablate-fig3-" + cfg.short_hash()), "ablate", root))
    std::cout << "wrote " << f.string() << "\n";
  return kExitOk;
}

int ablate_table(const CommonOptions& c, const std::string& id, const std::vector<std::string>& formats) {
  auto table = load_table(id);
  if (table.value("kind", "rows") == "cost") {
    if (dist::world() > 1)  // timings of one process's training steps: N processes would contend
      throw UsageError(fmt::format("ablate --table {} measures one process's training cost; run it as one process", id));
    return ablate_cost(c, table, formats);
  }
  if (table.contains("scale_key"))  // curve points are fractions of this knob's configured value
    table = expand_table(table, resolve_config(c, {}).get<long long>(table["scale_key"].get<std::string>()));
  std::vector<RowSpec> rows;
  std::vector<std::string> labels;
  std::vector<std::pair<std::string, std::string>> refused;
  for (const auto& r : table.at("rows")) {
    const auto label = r.at("label").get<std::string>();
    const auto cf = r.at("cfg").get<std::string>();
    auto sugar = row_sugar(r.at("method").get<std::string>(), r.at("sampler").get<std::string>(),
                           std::to_string(r.at("steps").get<int>()), cf);
    for (const auto& o : r.at("overrides")) sugar.push_back(o.get<std::string>());
    try {
      rows.push_back(RowSpec{r["method"].get<std::string>(), r["sampler"].get<std::string>(),
                             std::to_string(r["steps"].get<int>()), cf, resolve_config(c, sugar)});
      labels.push_back(label);
    } catch (const UsageError& e) {  // a knob this build does not have
      refused.emplace_back(label, e.what());
    }
  }
  std::vector<std::pair<std::string, nlohmann::json>> measured;
  nlohmann::json per_row = nlohmann::json::array();
  fs::path out;
  if (!rows.empty()) {
    const Config& base = rows.front().config;
    out = fs::path(base.get<std::string>("run.root")) / ("ablate-" + id + "-" + base.short_hash());
    auto run = run_rows(rows, out, {}, std::find(formats.begin(), formats.end(), "jsonl") != formats.end());
    if (!dist::is_main()) return kExitOk;  // a process group: rank 0 prints and writes
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (run.per_row[i].is_null()) {
        refused.emplace_back(labels[i], run.per_row_reason[i]);
        continue;
      }
      auto row = run.per_row[i];
      add_train_cost(row, false);  // the stage the figure varies
      measured.emplace_back(labels[i], row);
    }
  }
  const auto lines = ablate_lines(table, measured, refused);
  const auto md = ablate_markdown(table, lines);
  std::cout << "\n" << md;
  if (!out.empty()) {
    AblateResult result;
    result.table = table;
    result.markdown = md;
    result.measured = measured;
    result.refused = refused;
    result.provenance = provenance(rows.front().config);
    const fs::path root = rows.front().config.get<std::string>("run.root");
    for (const auto& f : write_result(result, formats, out, "ablate", root)) std::cout << "wrote " << f.string() << "\n";
  }
  return measured.empty() ? kExitNotImplemented : kExitOk;
}

void list_tables() {
  for (const auto& id : table_ids()) {
    auto t = load_table(id);
    if (t.value("kind", "rows") == "cost") {
      std::cout << fmt::format("table {}: {} (reference: {})\n  paper: {}\n", id, t["title"].get<std::string>(),
                               t["reference"].get<std::string>(), t["paper_claim"].get<std::string>());
      for (const auto& r : t["rows"])
        std::cout << fmt::format("  {:<28} disc.kind={}\n", r["label"].get<std::string>(), r["kind"].get<std::string>());
      continue;
    }
    if (t.contains("scale_key")) {
      std::vector<std::string> pts;
      for (const auto& p : t["points"]) pts.push_back(fmt::format("{}", p.get<double>()));
      std::cout << fmt::format("table {}: {} (reference series: {}; points: {} x {})\n", id,
                               t["title"].get<std::string>(), t["reference"].get<std::string>(), join(pts, ", "),
                               t["scale_key"].get<std::string>());
      for (const auto& r : t["series"]) {
        std::vector<std::string> ov;
        for (const auto& o : r["overrides"]) ov.push_back(o.get<std::string>());
        const auto vs = r.value("paper_vs_reference", "");
        std::cout << fmt::format("  {:<28} {} {} {} step(s) cfg {} {} varying {}; {}\n",
                                 r["label"].get<std::string>(), r["method"].get<std::string>(),
                                 r["sampler"].get<std::string>(), r["steps"].get<int>(), r["cfg"].get<std::string>(),
                                 ov.empty() ? "" : "[" + join(ov, " ") + "]", r["x_key"].get<std::string>(),
                                 vs.empty() ? "the reference series" : "paper: " + vs + " than the reference");
      }
      continue;
    }
    std::cout << fmt::format("table {}: {} (reference: {})\n", id, t["title"].get<std::string>(),
                             t["reference"].get<std::string>());
    for (const auto& r : t["rows"]) {
      std::vector<std::string> ov;
      for (const auto& o : r["overrides"]) ov.push_back(o.get<std::string>());
      std::cout << fmt::format("  {:<28} {} {} {} step(s) cfg {} {} paper {}\n", r["label"].get<std::string>(),
                               r["method"].get<std::string>(), r["sampler"].get<std::string>(), r["steps"].get<int>(),
                               r["cfg"].get<std::string>(), ov.empty() ? "" : "[" + join(ov, " ") + "]",
                               r["paper_fvd"].is_number() ? fmt::format("{:.2f}", r["paper_fvd"].get<double>()) : "-");
    }
  }
}

}  // namespace

void add_ablate_command(CLI::App& app, CommandSet& set) {
  struct Args {
    CommonOptions c;
    std::string table, format = "md,json";
    bool list = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "ablate", "Reproduce a paper table's rows (1, 2a ... 2h), a figure's curves (fig1, fig5) or cost table (fig3), or all");
  add_common(sub, a->c);
  sub->add_option("--table", a->table, "table id (1, 2a ... 2h, fidelity, fig1, fig3, fig5: see --list) or all");
  sub->add_flag("--list", a->list, "list the tables and their rows with the paper's values");
  sub->add_option("--format", a->format,
                  "comma list of md (ablate.md), json (ablate.json), jsonl (ablate.jsonl, one measured row per line) "
                  "and html (report.html); the table is always printed")
      ->capture_default_str();
  set.add(sub, [a]() -> int {
    const auto formats = parse_formats(comma_list(a->format));
    auto tables = table_ids();  // the tables compiled in (harness/tables/)
    tables.push_back("all");
    if (a->list) return list_tables(), kExitOk;
    if (a->table.empty()) throw UsageError("ablate: give --table ID or --list");
    if (std::find(tables.begin(), tables.end(), a->table) == tables.end())
      throw UsageError(fmt::format("--table: unknown table '{}'{}; tables: {}", a->table, did_you_mean(a->table, tables),
                                   join(tables, ", ")));
    Config cfg = resolve_config(a->c, {});
    if (a->c.dry_run) return print_dry_run(cfg), kExitOk;
    if (a->table != "all") return ablate_table(a->c, a->table, formats);
    for (const auto& id : table_ids()) {
      if (dist::world() > 1 && load_table(id).value("kind", "rows") == "cost") {
        if (dist::is_main())
          log::warn("ablate --table all: {} (one process's training cost) skipped in a process group; run "
                    "`osvbench ablate --table {}` as one process", id, id);
        continue;
      }
      ablate_table(a->c, id, formats);
    }
    return kExitOk;
  });

  // disc-cost (hidden): one discriminator path's training-step cost as a JSON line; ablate --table
  // fig3 runs it once per path, each in a fresh process.
  struct CostArgs {
    DiscCostOptions o;
    int r1 = 1, gen = 1;
  };
  auto d = std::make_shared<CostArgs>();
  auto* disc_cost = app.add_subcommand("disc-cost", "")->group("");
  disc_cost->add_option("--kind", d->o.kind, "upsampler, decoder or unet_encoder");
  disc_cost->add_option("--arch", d->o.arch, "embedded or svd");
  disc_cost->add_option("--preset", d->o.preset);
  disc_cost->add_option("--device", d->o.device);
  disc_cost->add_option("--dtype", d->o.dtype);
  disc_cost->add_option("--iters", d->o.iters);
  disc_cost->add_option("--r1", d->r1);
  disc_cost->add_option("--with-generator", d->gen);
  set.add(disc_cost, [d] {
    d->o.r1 = d->r1 != 0;
    d->o.with_generator = d->gen != 0;
    std::cout << measure_disc_cost(d->o).dump() << "\n";
    return kExitOk;
  });
}

}  // namespace osv
