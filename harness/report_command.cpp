// `osvbench report`: one self-contained HTML file (or its inputs as JSON) of finished compare and
// ablate results and of the VAE's reconstruction floor — every compare-*/, ablate-*/ and
// reconstruct*/ folder under the runs folder by default.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <variant>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "harness/options.h"
#include "harness/results.h"
#include "reports/html_report.h"

namespace osv {
namespace fs = std::filesystem;
namespace {

fs::path write_report(const Config& cfg, const std::vector<std::string>& inputs, const std::string& out_arg) {
  const fs::path root = cfg.get<std::string>("run.root");
  std::vector<fs::path> files;
  auto add_dir = [&](const fs::path& d) {
    for (const char* f : {"results.json", "ablate.json"})
      if (fs::exists(d / f)) files.push_back(d / f);
  };
  if (inputs.empty()) {
    if (!fs::is_directory(root)) throw InputError(fmt::format("runs folder {} does not exist", root.string()));
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(root)) {
      const auto n = e.path().filename().string();
      if (e.is_directory() && (n.rfind("compare-", 0) == 0 || n.rfind("ablate-", 0) == 0 || n == "reconstruct" ||
                               n.rfind("reconstruct-", 0) == 0))
        dirs.push_back(e.path());
    }
    std::sort(dirs.begin(), dirs.end());
    for (const auto& d : dirs) add_dir(d);
  } else {
    for (const auto& p : inputs) {
      if (fs::is_directory(p)) add_dir(p);
      else if (fs::exists(p)) files.push_back(p);
      else throw InputError(fmt::format("--results: {} does not exist", p));
    }
  }
  if (files.empty())
    throw InputError(fmt::format("no results to report under {} (run `osvbench compare` or `osvbench ablate` first)",
                                 root.string()));
  std::vector<std::pair<nlohmann::json, fs::path>> docs;
  for (const auto& f : files) {
    const auto any = read_result(f);
    if (const auto* c = std::get_if<CompareResult>(&any)) docs.emplace_back(c->to_json(), f.parent_path());
    else if (const auto* a = std::get_if<AblateResult>(&any)) docs.emplace_back(a->to_json(), f.parent_path());
    else if (const auto* r = std::get_if<ReconstructResult>(&any)) docs.emplace_back(r->to_json(), f.parent_path());
    else
      throw InputError(fmt::format("{}: none of {}, {}, {}", f.string(), CompareResult::kSchema, AblateResult::kSchema,
                                   ReconstructResult::kSchema));
  }
  const fs::path out = out_arg.empty() ? root / "report.html" : fs::path(out_arg);
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  atomic_write(out, render_html_report(report_inputs(docs, root)));
  return out;
}

}  // namespace

void add_report_command(CLI::App& app, CommandSet& set) {
  struct Args {
    CommonOptions c;
    std::string out;
    std::vector<std::string> inputs;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand(
      "report", "Write one self-contained HTML report of finished compare/ablate runs (default: all under --runs)");
  sub->add_option("--results", a->inputs,
                  "compare/reconstruct results.json or ablate.json files or their folders (default: every "
                  "compare-*/, ablate-*/, reconstruct*/ under the runs folder)");
  add_common(sub, a->c);
  sub->add_option("--out", a->out, "report file (.html)");
  set.add(sub, [a]() -> int {
    Config cfg = resolve_config(a->c, {});
    if (a->c.dry_run) return print_dry_run(cfg), kExitOk;
    std::cout << "report: " << write_report(cfg, a->inputs, a->out).string() << "\n";
    return kExitOk;
  });
}

}  // namespace osv
