// `osvbench regress`: the CI gate. Reruns a baseline's rows (osvbench.regress-baseline/1) under its
// preset and overrides, judges them against the baseline (harness/regress.h) and checks that the
// embedded assets are the baseline's bits first; --update rewrites (or creates) the baseline.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <variant>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "common/sha256.h"
#include "datasets/clip_set.h"
#include "harness/assets.h"
#include "harness/options.h"
#include "dist/dist.h"
#include "harness/regress.h"
#include "harness/results.h"
#include "harness/rows.h"
#include "methods/api/registry.h"
#include "methods/svd/embedded.h"
#include "reports/provenance.h"

namespace osv {
namespace fs = std::filesystem;
namespace {

struct RegressArgs {
  CommonOptions c;
  std::vector<std::string> baselines;  // tried in order: the first whose assets this machine reproduces judges
  std::string baseline, result, out;
  bool update = false;
  RegressOptions o;
};

// What each embedded asset behind a regression run hashes to, in build order (see regress.h). The
// data is hashed as the sorted (name, sha256) list of its mp4 and JSON files; a model path of the
// user's own (model.path, fvd.weights) is hashed like the embedded one.
nlohmann::json asset_fingerprints(const Config& cfg, const nlohmann::json& rows) {
  nlohmann::json out = nlohmann::json::array();
  auto add = [&](const std::string& name, const std::string& sha) {
    if (!sha.empty()) out.push_back({{"asset", name}, {"sha256", sha}});
  };
  auto file_sha = [](const fs::path& p) { return fs::is_regular_file(p) ? sha256_file(p) : std::string(); };
  if (cfg.get<std::string>("data.source") == "synthetic") {
    const fs::path dir = synthetic_data_dir(cfg);
    std::vector<fs::path> files;
    if (fs::is_directory(dir))
      for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file() && (e.path().extension() == ".mp4" || e.path().extension() == ".json"))
          files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::string list;
    for (const auto& f : files) list += fs::relative(f, dir).string() + " " + sha256_file(f) + "\n";
    if (!files.empty()) add("data", sha256_hex(list));
  }
  add("detector", detector_weights_sha256(cfg));
  const fs::path svd = svd_folder_for(cfg);
  add("vae", file_sha(svd / "vae" / "diffusion_pytorch_model.safetensors"));
  add("image_encoder", file_sha(svd / "image_encoder" / "model.safetensors"));
  add("teacher", file_sha(svd / "unet" / "diffusion_pytorch_model.safetensors"));
  std::set<std::string> seen;
  for (const auto& r : rows) {
    // "kind:path" or a bare path; folders (the teacher's "svd:<folder>") are covered above.
    const auto w = r.value("weights", "");
    const auto colon = w.find(':');
    const std::string kind = colon == std::string::npos ? "file" : w.substr(0, colon);
    const std::string path = colon == std::string::npos ? w : w.substr(colon + 1);
    if (w.empty() || !seen.insert(w).second) continue;
    add(r.value("method", "?") + " weights (" + kind + ")", file_sha(path));
  }
  return out;
}

int run(RegressArgs a) {
  CommonOptions& c = a.c;
  std::optional<RegressBaseline> baseline;
  if (fs::exists(a.baseline)) {
    auto any = read_result(a.baseline);
    const auto* b = std::get_if<RegressBaseline>(&any);
    if (!b)
      throw InputError(fmt::format("{}: not an osvbench regression baseline (schema {})", a.baseline,
                                   RegressBaseline::kSchema));
    baseline = *b;
  } else if (!a.update) {
    throw InputError(fmt::format("baseline {} does not exist; create it with --update", a.baseline));
  }
  nlohmann::json results;
  Config base = resolve_config(c, {});
  if (!a.result.empty()) {
    auto any = read_result(a.result);
    const auto* r = std::get_if<CompareResult>(&any);
    if (!r) throw InputError(fmt::format("--result {}: not a compare result ({})", a.result, CompareResult::kSchema));
    results = r->rows;
  } else {
    // Rerun: the baseline's preset and overrides, then the command line's overrides.
    std::vector<std::string> base_overrides;
    if (baseline) {
      c.preset = baseline->preset;
      base_overrides = baseline->overrides;
    } else {
      base_overrides = c.overrides;
    }
    std::vector<std::string> cli = c.overrides;
    c.overrides = base_overrides;
    c.overrides.insert(c.overrides.end(), cli.begin(), cli.end());
    std::vector<RowSpec> rows;
    auto add = [&](const std::string& m, const std::string& s, const std::string& st, const std::string& cf) {
      rows.push_back(RowSpec{m, s, st, cf, resolve_config(c, row_sugar(m, s, st, cf))});
    };
    if (baseline) {
      for (const auto& r : baseline->rows)
        add(r["method"].get<std::string>(), r["sampler"].get<std::string>(), std::to_string(r["steps"].get<int>()),
            r["cfg"].is_string() ? r["cfg"].get<std::string>() : fmt::format("{}", r["cfg"].get<double>()));
    } else {
      // A new baseline: every registered method's regression rows (the registry's order).
      for (const auto& name : MethodRegistry::instance().names())
        for (const auto& r : MethodRegistry::instance().get(name).regress_rows) add(name, r[0], r[1], r[2]);
    }
    if (rows.empty()) throw InputError(fmt::format("{}: the baseline has no rows", a.baseline));
    base = rows.front().config;
    if (c.dry_run) return print_dry_run(base), kExitOk;
    const fs::path root = base.get<std::string>("run.root");
    const fs::path out = a.out.empty() ? root / ("regress-" + base.short_hash()) : fs::path(a.out);
    auto run = run_rows(rows, out);
    if (!dist::is_main()) return kExitOk;  // a process group: rank 0 judges, prints and writes
    CompareResult cr;
    cr.rows = run.results;
    cr.refused = run.refused;
    cr.provenance = provenance(base);
    std::cout << result_printer("md").render(cr, root);
    write_result(cr, {"json"}, out, "results", root);
    results = cr.rows;
    if (a.update) {
      RegressBaseline nb;
      for (const auto& r : results) {
        nlohmann::json k;
        for (const char* key : {"method", "sampler", "steps", "cfg", "nfe", "fvd", "ci", "n_real", "n_fake", "config_hash"})
          if (r.contains(key)) k[key] = r[key];
        if (const auto d = row_detector_sha256(r); !d.empty()) k["detector_sha256"] = d;
        nb.rows.push_back(k);
      }
      nb.preset = c.preset;
      nb.overrides = base_overrides;
      nb.z = a.o.z;
      nb.rel_floor = a.o.rel_floor;
      nb.assets = asset_fingerprints(base, results);
      nb.provenance = provenance(base);
      fs::path bp(a.baseline);
      if (bp.has_parent_path()) fs::create_directories(bp.parent_path());
      atomic_write(bp, nb.to_json().dump(2) + "\n");
      if (!baseline) {
        std::cout << "created baseline " << a.baseline << " (" << nb.rows.size() << " rows)\n";
        return kExitOk;
      }
    }
  }
  if (!baseline) throw InputError(fmt::format("baseline {} does not exist; --result judges against one", a.baseline));
  const auto verdicts = judge_regression(baseline->rows, results, a.o);
  // The assets first: when this run's models are not the baseline's bits, its FVDs are not the
  // baseline's measurement, whatever the rows say.
  const AssetVerdict* differing = nullptr;
  std::vector<AssetVerdict> assets;
  if (a.result.empty() && !baseline->assets.empty()) {
    assets = judge_assets(baseline->assets, asset_fingerprints(base, results));
    std::cout << "\n" << asset_table(assets);
    differing = first_differing_asset(assets);
  }
  std::cout << "\n" << regress_table(verdicts);
  const bool failed = any_regressed(verdicts) || differing != nullptr;
  if (differing && !a.update) {
    const nlohmann::json n = environment_info()["numerics"];
    std::cout << fmt::format(
        "ASSET BITS DIFFER: '{}' is {} here, {} in the baseline (the first differing asset; later ones follow from "
        "it). Not an FVD regression: this run's models are other bits than the baseline's, so its FVDs are not "
        "comparable. With an unchanged recipe this means this machine computes other bits (numerics: {}, CPU "
        "kernels {}, {} threads); if this change altered the asset's recipe on purpose, refresh the baseline with "
        "--update. README, 'The FVD gate', says what to do.\n",
        differing->asset, differing->new_sha256.substr(0, 16), differing->base_sha256.substr(0, 16),
        n["reproducible"].get<bool>() ? "reproducible" : "native", n["cpu_capability"].get<std::string>(),
        n["intra_op_threads"].get<int>());
  }
  if (a.update) {
    std::cout << "baseline " << a.baseline << " rewritten from this run"
              << (differing                ? fmt::format(" (its assets were other bits from '{}' on)", differing->asset)
                  : any_regressed(verdicts) ? std::string(" (it was a regression)")
                                            : std::string())
              << "\n";
    return kExitOk;
  }
  std::cout << (differing ? "NOT COMPARABLE: the assets' bits differ from the baseline's (see above)\n"
                : failed  ? "REGRESSION: at least one row is worse than the baseline beyond the tolerance\n"
                          : "no regression\n");
  // Not comparable is its own exit code: a machine that computes other bits is not an FVD
  // regression, and the test script decides what it means there.
  return differing ? kExitNotComparable : failed ? kExitFailure : kExitOk;
}

// Each baseline in turn (one machine class each: their assets are other bits), judged by the first
// this run is comparable with; not comparable with all of them: exit 5.
int run_all(const RegressArgs& a) {
  if (a.baselines.size() > 1 && a.update)
    throw UsageError("regress --update rewrites one baseline: name one --baseline");
  std::vector<std::string> tried;
  for (const auto& b : a.baselines) {
    if (a.baselines.size() > 1 && !fs::exists(b)) {
      std::cout << "baseline " << b << ": does not exist, skipped\n";
      continue;
    }
    RegressArgs one = a;
    one.baseline = b;
    if (a.baselines.size() > 1) std::cout << "\n== baseline " << b << " ==\n";
    const int code = run(one);
    if (code != kExitNotComparable) {
      if (!a.update) std::cout << "judged against " << b << "\n";
      return code;
    }
    tried.push_back(b);
  }
  if (tried.empty()) throw InputError("regress: none of the baselines exists");
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  std::cout << "NOT COMPARABLE with any baseline (" << list << "): this machine's assets are other bits than every "
            << "baseline's, so no FVD was judged\n";
  return kExitNotComparable;
}

}  // namespace

void add_regress_command(CLI::App& app, CommandSet& set) {
  auto a = std::make_shared<RegressArgs>();
  a->c.preset = "tiny";
  auto* sub = app.add_subcommand(
      "regress",
      "CI gate: rerun the baseline's rows and fail (exit 1) when a row's FVD is worse beyond the statistical tolerance");
  add_common(sub, a->c);
  sub->add_option("--baseline", a->baselines,
                  "baseline JSON (rows, preset and overrides that produced them); repeat it for one baseline per "
                  "machine class: the first whose assets this machine reproduces judges (missing files skipped)")
      ->required();
  sub->add_flag("--update", a->update,
                "rerun and rewrite the baseline (creates it with the default regression rows when missing)");
  sub->add_option("--result", a->result, "judge this compare results.json instead of rerunning");
  sub->add_option("--out", a->out, "folder for the rerun's results (default: <runs>/regress-<hash>)");
  sub->add_option("--z", a->o.z, "z of the tolerance z * sqrt(se_base^2 + se_new^2)")->capture_default_str();
  sub->add_option("--rel-floor", a->o.rel_floor, "smallest tolerance, relative to the baseline FVD")
      ->capture_default_str();
  set.add(sub, [a] { return run_all(*a); });
}

}  // namespace osv
