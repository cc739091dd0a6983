#include "harness/cli.h"

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <fstream>
#include <optional>
#include <set>

#include "common/atomic_file.h"
#include "common/build_info.h"
#include "common/config.h"
#include "common/dir_lock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/run_dir.h"
#include "common/sha256.h"
#include "common/subprocess.h"
#include "common/text.h"
#include "datasets/clip_set.h"
#include "datasets/video_backend.h"
#include "datasets/video_io.h"
#include "harness/ablate.h"
#include "harness/disc_cost.h"
#include "harness/builtin_methods.h"
#include "harness/fvd_command.h"
#include "harness/evaluate.h"
#include "harness/prepare_command.h"
#include "harness/regress.h"
#include "harness/row_cache.h"
#include "methods/animatelcm/animatelcm.h"
#include "methods/osv/osv.h"
#include "methods/sfv/sfv.h"
#include "methods/teacher/embedded.h"
#include "methods/svd/svd_pipeline.h"
#include "methods/api/registry.h"
#include "metrics/fvd/protocol.h"
#include "models/device.h"
#include "models/numerics.h"
#include "reports/html_report.h"
#include "reports/provenance.h"

namespace osv {
namespace fs = std::filesystem;
namespace {

using nlohmann::json;

constexpr const char* kExitCodes =
    "Exit codes: 0 success, 1 runtime failure, 2 usage error (unknown command/option/key, bad value),\n"
    "            3 not implemented yet, 4 bad input data or checkpoint.\n"
    "Config overrides are key=value pairs after the options (`osvbench info --config-keys` lists the keys);\n"
    "a unique key suffix works too: steps=8 means sample.steps=8.";

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

// Resolves the config from the common options; `sugar` are overrides that dedicated
// options (--steps, --method, ...) expand to, applied before the positional ones.
Config resolve_config(const CommonOptions& c, const std::vector<std::string>& sugar,
                      const std::vector<std::string>& defaults = {}) {
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

// "3.0" -> cfg on with that w_max; "none" -> cfg off.
std::vector<std::string> cfg_overrides(const std::string& cfg) {
  if (cfg == "none" || cfg == "off") return {"sample.cfg=false"};
  if (!parse_double(cfg)) throw UsageError(fmt::format("--cfg: expected a number (w_max) or 'none', got '{}'", cfg));
  return {"sample.cfg=true", "sample.cfg_max=" + cfg};
}

// The overrides that select one (method, sampler, steps, cfg) row of compare/ablate/regress.
std::vector<std::string> row_sugar(const std::string& method, const std::string& sampler, const std::string& steps,
                                   const std::string& cfg) {
  std::vector<std::string> sugar = {"method=" + method, "sample.sampler=" + sampler, "sample.steps=" + steps};
  for (auto& o : cfg_overrides(cfg)) sugar.push_back(o);
  return sugar;
}

// ---- sample ----
void sample_command(const Config& cfg, const std::vector<std::string>& images, const std::string& out_arg) {
  const auto& info = MethodRegistry::instance().get(cfg.get<std::string>("method"));
  auto pipe = std::make_shared<SvdPipeline>(ensure_svd_folder(cfg), cfg);
  auto method = info.create(cfg, pipe);
  const int64_t H = cfg.get<long long>("data.height"), W = cfg.get<long long>("data.width");
  torch::Tensor first;
  std::vector<std::string> names;
  if (!images.empty()) {
    std::vector<torch::Tensor> f;
    DecodeOptions d;
    d.frames = 1;
    d.height = H;
    d.width = W;
    for (const auto& p : images) {
      f.push_back(decode_video(p, d).frames[0]);  // an image decodes as a one-frame video
      names.push_back(fs::path(p).stem().string());
    }
    first = torch::stack(f);
  } else {
    const int64_t n = cfg.get<long long>("sample.num_samples");
    auto set = load_clip_folder(split_dir(cfg, "test"), cfg, n);
    first = set.videos.select(1, 0).contiguous();
    for (const auto& p : set.files) names.push_back(p.stem().string());
  }
  const auto o = sample_options(cfg);
  const fs::path out = out_arg.empty() ? RunDir::open(cfg).path() / "samples" : fs::path(out_arg);
  fs::create_directories(out);
  auto g = generate_videos(*method, *pipe, first, o, cfg.get<long long>("data.frames"), 8,
                           cfg.get<double>("run.progress_interval_s"), "sample " + info.name);
  for (int64_t i = 0; i < g.videos.size(0); ++i)
    write_video(out / (names[static_cast<std::size_t>(i)] + ".mp4"), g.videos[i], cfg.get<double>("data.fps"));
  write_frame_grid(out / "grid.png", g.videos.slice(0, 0, std::min<int64_t>(16, g.videos.size(0))));
  nlohmann::json j = {{"method", info.name}, {"sampler", o.sampler}, {"steps", o.steps},
                      {"cfg", o.cfg ? nlohmann::json(o.cfg_max) : nlohmann::json("none")}, {"nfe", g.nfe},
                      {"clips", g.videos.size(0)}, {"seconds", g.seconds}, {"weights", method->weights_id()},
                      {"inputs", images.empty() ? nlohmann::json("test split") : nlohmann::json(images)},
                      {"provenance", provenance(cfg)}};
  atomic_write(out / "samples.json", j.dump(2) + "\n");
  std::cout << fmt::format("{} clips by {} ({} {} step(s), {} NFE per clip, {:.2f} s per clip) -> {}\n",
                           g.videos.size(0), info.name, o.sampler, o.steps, g.nfe, g.latency_s, out.string());
}

// ---- compare ----
using CompareRow = std::tuple<std::string, std::string, std::string, std::string, Config>;

std::string fmt_ci(const nlohmann::json& r) {
  if (!r.contains("ci")) return "-";
  return fmt::format("[{:.2f}, {:.2f}]", r["ci"]["low"].get<double>(), r["ci"]["high"].get<double>());
}

fs::path report_command(const Config& cfg, const std::vector<std::string>& inputs, const std::string& out_arg);

struct RowsRun {
  nlohmann::json results = nlohmann::json::array();
  std::vector<std::string> refused;
  std::vector<nlohmann::json> per_row;      // aligned with the rows; null when refused
  std::vector<std::string> per_row_reason;  // why a row was refused
};

// Runs every row through one Evaluator (shared real statistics): results as they finish are
// appended to out/results.jsonl; rows that cannot run are refused with the reason.
RowsRun run_rows(const std::vector<CompareRow>& rows, const fs::path& out, std::vector<std::string> refused = {}) {
  const Config& base = std::get<4>(rows.front());
  std::unique_ptr<Evaluator> ev;  // built on the first row not measured before
  fs::create_directories(out);
  // Two processes running the same grid: the second waits, then reads every row from the cache.
  DirLock out_lock(out / ".lock", "writing " + out.string());
  fs::remove(out / "results.jsonl");  // this run's rows only
  RowsRun r;
  r.refused = std::move(refused);
  Progress::Options po;
  po.unit = "row";
  po.interval_s = base.get<double>("run.progress_interval_s");
  Progress overall(static_cast<int64_t>(rows.size()), "rows", po);
  for (const auto& [m, s, st, cf, cfg] : rows) {
    overall.set_postfix(fmt::format("now: {} {} {} step(s) cfg {}", m, s, st, cf));
    r.per_row.emplace_back();
    r.per_row_reason.emplace_back();
    try {
      // A row is cached by what its measurement read (harness/row_cache.h) and the detector
      // weights' sha256 under <runs>/rows/, so compare, ablate and regress share measured rows.
      RowCache cache(fs::path(cfg.get<std::string>("run.root")) / "rows");
      const auto detector_sha = detector_weights_sha256(cfg);
      fs::path where;
      nlohmann::json row = cache.lookup(cfg, detector_sha, &where);
      // Another process measuring the same row: wait for it, then read its result.
      std::optional<DirLock> lock;
      if (row.is_null()) {
        lock.emplace(fs::path(cfg.get<std::string>("run.root")) / "rows" / ".locks" /
                         (sha256_hex(cfg.hash() + ":" + detector_sha).substr(0, 16) + ".lock"),
                     fmt::format("measuring {} {} {} step(s) cfg {}", m, s, st, cf));
        row = cache.lookup(cfg, detector_sha, &where);  // it may have finished just before we locked
      }
      if (!row.is_null()) {
        log::info("{} {} {} step(s) cfg {}: measured before ({})", m, s, st, cf, where.string());
      } else {
        if (!ev) ev = std::make_unique<Evaluator>(base);
        const fs::path pending = cache.pending();
        std::set<std::string> reads = ev->construction_reads();
        {
          ConfigReadLog log;
          row = ev->run_row(cfg, pending / "videos");
          const auto k = log.keys();
          reads.insert(k.begin(), k.end());
        }
        row["videos"] = fs::absolute(pending / "videos").string();
        const fs::path dir = cache.store(cfg, detector_sha, reads, row, pending);
        row = read_cached_row(dir / "row.json");
      }
      r.results.push_back(row);
      r.per_row.back() = row;
      std::ofstream(out / "results.jsonl", std::ios::app) << row.dump() << "\n";
    } catch (const NotImplementedError& e) {
      r.refused.push_back(fmt::format("{} {} {} steps: {}", m, s, st, e.what()));
      r.per_row_reason.back() = e.what();
    } catch (const UsageError& e) {  // a row that makes no sense (e.g. more steps than the grid has)
      r.refused.push_back(fmt::format("{} {} {} steps: {}", m, s, st, e.what()));
      r.per_row_reason.back() = e.what();
    }
    overall.advance();
  }
  overall.finish();
  return r;
}

void print_rows_table(const nlohmann::json& results) {
  std::cout << "| method | sampler | steps | cfg | NFE | FVD | 95% CI | N | s/clip | clips/s | peak RSS MiB |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : results)
    std::cout << fmt::format("| {} | {} | {} | {} | {} | {:.2f} | {} | {} | {:.3f} | {:.2f} | {:.0f} |\n",
                             r["method"].get<std::string>(), r["sampler"].get<std::string>(), r["steps"].get<int>(),
                             r["cfg"].is_string() ? r["cfg"].get<std::string>() : fmt::format("{}", r["cfg"].get<double>()),
                             r["nfe"].get<int64_t>(), r["fvd"].get<double>(), fmt_ci(r), r["n_fake"].get<int64_t>(),
                             r["latency_s_per_clip"].get<double>(), r["clips_per_s"].get<double>(),
                             r["peak_rss_mib"].get<double>());
}

int compare_command(const std::vector<CompareRow>& rows, const std::vector<std::string>& formats,
                    const std::string& out_arg, std::vector<std::string> refused_upfront) {
  const Config& base = std::get<4>(rows.front());
  // Keyed by the whole grid (every row's config hash, in order): `--steps 1,2` and `--steps 1,4`
  // write different folders.
  std::string grid;
  for (const auto& row : rows) grid += std::get<4>(row).hash() + "\n";
  const fs::path out = out_arg.empty() ? fs::path(base.get<std::string>("run.root")) / ("compare-" + sha256_hex(grid).substr(0, 12))
                                       : fs::path(out_arg);
  auto run = run_rows(rows, out, std::move(refused_upfront));
  const auto& results = run.results;
  const auto& refused = run.refused;
  print_rows_table(results);
  for (const auto& r : refused) std::cout << "refused: " << r << "\n";
  nlohmann::json doc = {{"schema", "osvbench.compare/1"}, {"rows", results}, {"refused", refused},
                        {"provenance", provenance(base)}};
  if (std::find(formats.begin(), formats.end(), "json") != formats.end()) {
    atomic_write(out / "results.json", doc.dump(2) + "\n");
    std::cout << "wrote " << (out / "results.json").string() << "\n";
  }
  if (std::find(formats.begin(), formats.end(), "html") != formats.end() && !results.empty()) {
    atomic_write(out / "results.json", doc.dump(2) + "\n");  // the report reads it
    const auto html = report_command(base, {out.string()}, (out / "report.html").string());
    std::cout << "wrote " << html.string() << "\n";
  }
  if (results.empty()) throw NotImplementedError("compare: none of the requested rows could run (see refused)");
  return kExitOk;
}

// ---- regress ----
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

int regress_command(CommonOptions c, const std::string& baseline_path, bool update, const std::string& result_path,
                    const std::string& out_arg, const RegressOptions& ro) {
  nlohmann::json baseline;
  const bool have = fs::exists(baseline_path);
  if (have) {
    try {
      baseline = nlohmann::json::parse(read_file(baseline_path));
    } catch (const nlohmann::json::exception& e) {
      throw InputError(fmt::format("{}: not valid JSON: {}", baseline_path, e.what()));
    }
    if (baseline.value("schema", "") != "osvbench.regress-baseline/1" || !baseline.contains("rows"))
      throw InputError(fmt::format("{}: not an osvbench regression baseline (schema osvbench.regress-baseline/1)",
                                   baseline_path));
  } else if (!update) {
    throw InputError(fmt::format("baseline {} does not exist; create it with --update", baseline_path));
  }
  nlohmann::json results;
  Config base = resolve_config(c, {});
  if (!result_path.empty()) {
    results = nlohmann::json::parse(read_file(result_path)).at("rows");
  } else {
    // Rerun: the baseline's preset and overrides, then the command line's overrides.
    std::vector<std::string> base_overrides;
    if (have) {
      c.preset = baseline.at("preset").get<std::string>();
      base_overrides = baseline.at("overrides").get<std::vector<std::string>>();
    } else {
      base_overrides = c.overrides;
    }
    std::vector<std::string> cli = c.overrides;
    c.overrides = base_overrides;
    c.overrides.insert(c.overrides.end(), cli.begin(), cli.end());
    std::vector<CompareRow> rows;
    auto add = [&](const std::string& m, const std::string& s, const std::string& st, const std::string& cf) {
      rows.emplace_back(m, s, st, cf, resolve_config(c, row_sugar(m, s, st, cf)));
    };
    if (have) {
      for (const auto& r : baseline["rows"])
        add(r["method"].get<std::string>(), r["sampler"].get<std::string>(), std::to_string(r["steps"].get<int>()),
            r["cfg"].is_string() ? r["cfg"].get<std::string>() : fmt::format("{}", r["cfg"].get<double>()));
    } else {
      // A new baseline: every registered method's regression rows (the registry's order).
      for (const auto& name : MethodRegistry::instance().names())
        for (const auto& r : MethodRegistry::instance().get(name).regress_rows) add(name, r[0], r[1], r[2]);
    }
    base = std::get<4>(rows.front());
    if (c.dry_run) return print_dry_run(base), kExitOk;
    const fs::path out = out_arg.empty() ? fs::path(base.get<std::string>("run.root")) / ("regress-" + base.short_hash())
                                         : fs::path(out_arg);
    auto run = run_rows(rows, out);
    for (const auto& r : run.refused) std::cout << "refused: " << r << "\n";
    results = run.results;
    print_rows_table(results);
    atomic_write(out / "results.json", nlohmann::json{{"schema", "osvbench.compare/1"}, {"rows", results},
                                                      {"refused", run.refused}, {"provenance", provenance(base)}}
                                           .dump(2) + "\n");
    if (update) {
      nlohmann::json rows_kept = nlohmann::json::array();
      for (const auto& r : results) {
        nlohmann::json k;
        for (const char* key : {"method", "sampler", "steps", "cfg", "nfe", "fvd", "ci", "n_real", "n_fake", "config_hash"})
          if (r.contains(key)) k[key] = r[key];
        if (const auto d = row_detector_sha256(r); !d.empty()) k["detector_sha256"] = d;
        rows_kept.push_back(k);
      }
      nlohmann::json doc = {{"schema", "osvbench.regress-baseline/1"},
                            {"preset", c.preset},
                            {"overrides", base_overrides},
                            {"tolerance", {{"z", ro.z}, {"rel_floor", ro.rel_floor}}},
                            {"rows", rows_kept},
                            {"assets", asset_fingerprints(base, results)},
                            {"provenance", provenance(base)}};
      fs::path bp(baseline_path);
      if (bp.has_parent_path()) fs::create_directories(bp.parent_path());
      atomic_write(bp, doc.dump(2) + "\n");
      if (!have) {
        std::cout << "created baseline " << baseline_path << " (" << rows_kept.size() << " rows)\n";
        return kExitOk;
      }
    }
  }
  const auto verdicts = judge_regression(baseline.at("rows"), results, ro);
  // The assets first: when this run's models are not the baseline's bits, its FVDs are not the
  // baseline's measurement, whatever the rows say.
  const AssetVerdict* differing = nullptr;
  std::vector<AssetVerdict> assets;
  if (result_path.empty() && baseline.contains("assets")) {
    assets = judge_assets(baseline["assets"], asset_fingerprints(base, results));
    std::cout << "\n" << asset_table(assets);
    differing = first_differing_asset(assets);
  }
  std::cout << "\n" << regress_table(verdicts);
  const bool failed = any_regressed(verdicts) || differing != nullptr;
  if (differing && !update) {
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
  if (update) {
    std::cout << "baseline " << baseline_path << " rewritten from this run" << (failed ? " (it was a regression)" : "")
              << "\n";
    return kExitOk;
  }
  std::cout << (differing ? "NOT COMPARABLE: the assets' bits differ from the baseline's (see above)\n"
                : failed  ? "REGRESSION: at least one row is worse than the baseline beyond the tolerance\n"
                          : "no regression\n");
  return failed ? kExitFailure : kExitOk;
}

// ---- ablate ----
// Seconds the training steps of the run behind a row's weights took (the sum of the logged step
// times: checkpoint writes and data encoding excluded); absent when the weights name no run.
std::optional<double> train_seconds(const nlohmann::json& row) {
  const auto w = row.value("weights", "");
  const auto colon = w.find(':');
  if (colon == std::string::npos) return std::nullopt;
  const auto metrics = fs::path(w.substr(colon + 1)).parent_path() / "metrics.jsonl";
  if (!fs::exists(metrics)) return std::nullopt;
  std::ifstream in(metrics);
  std::string line;
  double total = 0;
  while (std::getline(in, line)) {
    try {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("it_per_s") && j["it_per_s"].is_number() && j["it_per_s"].get<double>() > 0)
        total += 1.0 / j["it_per_s"].get<double>();
    } catch (const nlohmann::json::exception&) {  // a torn last line
    }
  }
  return total;
}

// Figure 3: each discriminator path measured by `osvbench disc-cost` in a process of its own (the
// CPU peak memory is the process's RSS), at the preset's sizes on its device and dtype.
int ablate_cost_command(const CommonOptions& c, const nlohmann::json& table) {
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
  const fs::path out = fs::path(cfg.get<std::string>("run.root")) / ("ablate-fig3-" + cfg.short_hash());
  nlohmann::json ls = nlohmann::json::array();
  for (const auto& [label, j] : measured) ls.push_back({{"label", label}, {"result", j}});
  nlohmann::json doc = {{"schema", "osvbench.ablate/1"}, {"table", table}, {"markdown", md}, {"measured", ls},
                        {"refused", nlohmann::json::array()}, {"provenance", provenance(cfg)}};
  fs::create_directories(out);
  atomic_write(out / "ablate.json", doc.dump(2) + "\n");
  std::cout << "wrote " << (out / "ablate.json").string() << "\n";
  return kExitOk;
}

int ablate_command(const CommonOptions& c, const std::string& id) {
  auto table = load_table(id);
  if (table.value("kind", "rows") == "cost") return ablate_cost_command(c, table);
  if (table.contains("scale_key"))  // curve points are fractions of this knob's configured value
    table = expand_table(table, resolve_config(c, {}).get<long long>(table["scale_key"].get<std::string>()));
  std::vector<CompareRow> rows;
  std::vector<std::string> labels;
  std::vector<std::pair<std::string, std::string>> refused;
  for (const auto& r : table.at("rows")) {
    const auto label = r.at("label").get<std::string>();
    const auto cf = r.at("cfg").get<std::string>();
    auto sugar = row_sugar(r.at("method").get<std::string>(), r.at("sampler").get<std::string>(),
                           std::to_string(r.at("steps").get<int>()), cf);
    for (const auto& o : r.at("overrides")) sugar.push_back(o.get<std::string>());
    try {
      rows.emplace_back(r["method"].get<std::string>(), r["sampler"].get<std::string>(),
                        std::to_string(r["steps"].get<int>()), cf, resolve_config(c, sugar));
      labels.push_back(label);
    } catch (const UsageError& e) {  // a knob this build does not have
      refused.emplace_back(label, e.what());
    }
  }
  std::vector<std::pair<std::string, nlohmann::json>> measured;
  nlohmann::json per_row = nlohmann::json::array();
  fs::path out;
  if (!rows.empty()) {
    const Config& base = std::get<4>(rows.front());
    out = fs::path(base.get<std::string>("run.root")) / ("ablate-" + id + "-" + base.short_hash());
    auto run = run_rows(rows, out);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (run.per_row[i].is_null()) {
        refused.emplace_back(labels[i], run.per_row_reason[i]);
        continue;
      }
      auto row = run.per_row[i];
      if (const auto t = train_seconds(row)) row["train_s"] = *t;
      measured.emplace_back(labels[i], row);
    }
  }
  const auto lines = ablate_lines(table, measured, refused);
  const auto md = ablate_markdown(table, lines);
  std::cout << "\n" << md;
  if (!out.empty()) {
    nlohmann::json doc = {{"schema", "osvbench.ablate/1"}, {"table", table}, {"markdown", md}};
    nlohmann::json ls = nlohmann::json::array();
    for (const auto& [label, j] : measured) ls.push_back({{"label", label}, {"result", j}});
    doc["measured"] = ls;
    nlohmann::json rf = nlohmann::json::array();
    for (const auto& [label, why] : refused) rf.push_back({{"label", label}, {"reason", why}});
    doc["refused"] = rf;
    doc["provenance"] = provenance(std::get<4>(rows.front()));
    atomic_write(out / "ablate.json", doc.dump(2) + "\n");
    std::cout << "wrote " << (out / "ablate.json").string() << "\n";
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

// ---- report ----
std::vector<std::pair<double, double>> loss_curve(const fs::path& metrics) {
  std::vector<std::pair<double, double>> pts;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    try {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("step") && j.contains("loss") && j["loss"].is_number())
        pts.emplace_back(j["step"].get<double>(), j["loss"].get<double>());
    } catch (const nlohmann::json::exception&) {  // a torn last line of a killed run
    }
  }
  return pts;
}

fs::path report_command(const Config& cfg, const std::vector<std::string>& inputs, const std::string& out_arg) {
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
      if (e.is_directory() && (n.rfind("compare-", 0) == 0 || n.rfind("ablate-", 0) == 0)) dirs.push_back(e.path());
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
  ReportInputs in;
  for (const auto& f : files) {
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(read_file(f));
    } catch (const nlohmann::json::exception& e) {
      throw InputError(fmt::format("{}: not valid JSON: {}", f.string(), e.what()));
    }
    const auto schema = doc.value("schema", "");
    // Samples: the first clips of every row (same first frames across rows), each row once.
    auto add_videos = [&](const nlohmann::json& r) {
      if (!r.contains("videos")) return;
      const auto key = regress_row_key(r);
      if (std::any_of(in.videos.begin(), in.videos.end(), [&](const auto& v) { return v.first == key; })) return;
      const fs::path vdir = r["videos"].get<std::string>();
      std::vector<std::string> v;
      for (int i = 0; i < 4; ++i) {
        const auto mp4 = (vdir.is_absolute() ? vdir : f.parent_path() / vdir) / fmt::format("{:05d}.mp4", i);
        if (fs::exists(mp4)) v.push_back(read_file(mp4));
      }
      if (!v.empty()) in.videos.emplace_back(key, std::move(v));
    };
    if (schema == "osvbench.compare/1") {
      for (const auto& r : doc["rows"]) add_videos(r);
      in.compares.push_back(std::move(doc));
    } else if (schema == "osvbench.ablate/1") {
      for (const auto& m : doc.value("measured", nlohmann::json::array())) add_videos(m.at("result"));
      in.ablations.push_back(std::move(doc));
    } else {
      throw InputError(fmt::format("{}: schema '{}' is neither osvbench.compare/1 nor osvbench.ablate/1", f.string(),
                                   schema));
    }
  }
  // Training curves of every run in the folder: methods' runs and the embedded models.
  if (fs::is_directory(root)) {
    std::vector<fs::path> runs;
    for (const auto& e : fs::recursive_directory_iterator(root))
      if (e.path().filename() == "metrics.jsonl") runs.push_back(e.path());
    std::sort(runs.begin(), runs.end());
    for (const auto& m : runs) {
      auto rel = fs::relative(m.parent_path(), root).string();
      auto pts = loss_curve(m);
      if (!pts.empty()) in.curves.emplace_back(rel, std::move(pts));
    }
  }
  const fs::path out = out_arg.empty() ? root / "report.html" : fs::path(out_arg);
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  atomic_write(out, render_html_report(in));
  return out;
}

// ---- info ----
struct InfoOptions {
  bool json = false, config_keys = false, methods = false, presets = false, protocols = false;
};

void print_info(const InfoOptions& o) {
  if (o.json) {
    std::cout << environment_info().dump(2) << "\n";
    return;
  }
  if (o.config_keys) {
    for (const auto& k : config_schema()) {
      std::string extra;
      if (!k.choices.empty()) extra = " {" + join(k.choices, ",") + "}";
      std::cout << fmt::format("{:<28} {:<10} {:<22} {}{}{}\n", k.path, std::string(key_type_name(k.type)).substr(0, 10),
                               k.default_value.is_string() ? k.default_value.get<std::string>() : k.default_value.dump(),
                               k.doc, extra, k.hashed ? "" : " (not hashed)");
    }
    return;
  }
  if (o.methods) {
    for (const auto& name : MethodRegistry::instance().names()) {
      const auto& m = MethodRegistry::instance().get(name);
      std::cout << fmt::format("{:<11} {}\n{:<11} samplers: {}; from {}\n", m.name, m.title, "", join(m.samplers, ", "),
                               m.paper);
    }
    return;
  }
  if (o.presets) {
    for (const auto& p : preset_names()) std::cout << fmt::format("{:<6} {}\n", p, preset_description(p));
    return;
  }
  if (o.protocols) {
    for (const auto& p : fvd_protocols())
      std::cout << fmt::format("{:<12} real {} fake {} frames {} ({}): {}\n", p.name,
                               p.num_real ? std::to_string(p.num_real) : "any", p.num_fake ? std::to_string(p.num_fake) : "any",
                               p.frames, p.frame_choice, p.description);
    return;
  }
  const json e = environment_info();
  const auto& b = build_info();
  std::cout << "osvbench " << version_string() << "\n";
  std::cout << fmt::format("{:<10} {} ({})\n", "torch", b.torch_headers, b.torch_mode);
  std::cout << fmt::format("{:<10} MKL {}, MKL-DNN {}, OpenMP {}\n", "backends", at::hasMKL() ? "yes" : "no",
                           at::hasMKLDNN() ? "yes" : "no", at::hasOpenMP() ? "yes" : "no");
  std::cout << fmt::format("{:<10} intra-op {}, inter-op {}, hardware {}\n", "threads",
                           e["threads"]["intra_op"].get<int>(), e["threads"]["inter_op"].get<int>(),
                           e["threads"]["hardware"].get<long>());
  const auto& n = e["numerics"];
  std::cout << fmt::format("{:<10} {}: CPU kernels {}, oneDNN max ISA {}, MKL CBWR {}{}\n", "numerics",
                           n["reproducible"].get<bool>() ? "reproducible" : "native (run.reproducible=false)",
                           n["cpu_capability"].get<std::string>(),
                           n["onednn_max_isa"].get<std::string>().empty() ? "native" : n["onednn_max_isa"].get<std::string>(),
                           n["mkl_cbwr"].get<std::string>().empty() ? "off" : n["mkl_cbwr"].get<std::string>(),
                           n["reproducible"].get<bool>()
                               ? fmt::format("; commands fix intra-op threads at run.threads or {}", kReproducibleThreads)
                               : std::string());
  if (!b.with_cuda) {
    std::cout << fmt::format("{:<10} not in this build (CPU-only; the cuda preset builds it)\n", "CUDA");
  } else if (!cuda_available()) {
    std::cout << fmt::format("{:<10} built with CUDA, but no device is visible\n", "CUDA");
  } else {
    const auto devs = cuda_devices();
    std::cout << fmt::format("{:<10} available, {} device(s)\n", "CUDA", devs.size());
    for (const auto& d : devs)
      std::cout << fmt::format("{:<10}   cuda:{} {} ({:.1f} GiB, sm_{}{})\n", "", d.index, d.name,
                               static_cast<double>(d.total_memory) / (1 << 30), d.major, d.minor);
  }
  const auto v = video_backend_info();
  if (v.available) {
    auto yes = [](const std::string& s) { return s.empty() ? std::string("none") : s; };
    std::cout << fmt::format("{:<10} libavformat {}, libavcodec {}; encoders: h264 {}, mpeg4 {}, gif {}, webp {}\n",
                             "FFmpeg", v.libavformat, v.libavcodec, yes(v.h264_encoder), yes(v.mpeg4_encoder),
                             yes(v.gif_encoder), yes(v.webp_encoder));
  } else {
    std::cout << fmt::format("{:<10} not in this build (OSVBENCH_WITH_FFMPEG=OFF): no mp4 decoding or writing\n",
                             "FFmpeg");
  }
  std::cout << fmt::format("{:<10} {}, {}, fmt: {}\n", "build", b.build_type, b.compiler, b.fmt_source);
  std::cout << fmt::format("{:<10} {}\n", "presets", join(preset_names(), ", "));
  std::cout << fmt::format("{:<10} {}\n", "methods", join(MethodRegistry::instance().names(), ", "));
  std::cout << "More: osvbench info --json | --config-keys | --methods | --presets | --protocols\n";
}

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

  // prepare
  CommonOptions prepare_c;
  std::string prepare_only;
  bool prepare_force = false;
  auto* prepare = app.add_subcommand(
      "prepare", "Build the embedded default's assets from scratch: VAE, image encoder, teacher, FVD detector");
  add_common(prepare, prepare_c);
  prepare->add_option("--only", prepare_only, "comma list of assets: data,detector,vae,image_encoder,teacher,backbone");
  prepare->add_flag("--force", prepare_force, "rebuild assets even when cached");

  // train
  CommonOptions train_c;
  std::string train_method, train_stage = "all";
  auto* train = app.add_subcommand("train", "Train or distil a method (resumes a killed run from its last checkpoint)");
  add_common(train, train_c);
  train->add_option("--method", train_method, "teacher, animatelcm, sfv or osv (config method)");
  train->add_option("--stage", train_stage, "OSV stage: 1 (LGP), 2 (ACD) or all")->capture_default_str();

  // sample
  CommonOptions sample_c;
  std::string sample_method, sample_sampler, sample_cfg, sample_out;
  int sample_steps = 0, sample_num = 0;
  std::vector<std::string> sample_images;
  auto* sample = app.add_subcommand("sample", "Generate videos and a frame grid from first frames or dataset clips");
  add_common(sample, sample_c);
  sample->add_option("--method", sample_method, "method to sample (config method)");
  sample->add_option("--steps", sample_steps, "sampling steps k (config sample.steps)");
  sample->add_option("--sampler", sample_sampler, "euler, consistency or tts (config sample.sampler)");
  sample->add_option("--cfg", sample_cfg, "CFG w_max (ramp from sample.cfg_min) or 'none'");
  sample->add_option("--num", sample_num, "number of clips (config sample.num_samples)");
  sample->add_option("--images", sample_images, "first-frame images to animate (default: test-split clips)");
  sample->add_option("--out", sample_out, "output folder (default: the run directory)");

  // fvd
  auto* fvd = app.add_subcommand("fvd", "FVD: statistics from videos, merging shards, distance between two sets");
  fvd->require_subcommand(1);
  CommonOptions fvd_stats_c, fvd_merge_c, fvd_compute_c;
  std::string fvd_videos, fvd_stats_out, fvd_merge_out, fvd_real, fvd_fake, fvd_protocol, fvd_compute_out;
  std::vector<std::string> fvd_merge_in;
  auto* fvd_stats = fvd->add_subcommand("stats", "Extract detector features of a folder of videos into a stats file");
  add_common(fvd_stats, fvd_stats_c);
  fvd_stats->add_option("--videos", fvd_videos, "folder of videos (mp4 or frame folders)")->required();
  fvd_stats->add_option("--out", fvd_stats_out, "stats file to write (safetensors)")->required();
  auto* fvd_merge = fvd->add_subcommand("merge", "Merge stats files of shards into one (exact)");
  add_common(fvd_merge, fvd_merge_c);
  fvd_merge->add_option("--in", fvd_merge_in, "stats files to merge")->required();
  fvd_merge->add_option("--out", fvd_merge_out, "merged stats file")->required();
  auto* fvd_compute = fvd->add_subcommand("compute", "FVD between two sets (folders of videos or stats files)");
  add_common(fvd_compute, fvd_compute_c);
  fvd_compute->add_option("--real", fvd_real, "reference set: folder of videos or stats file")->required();
  fvd_compute->add_option("--fake", fvd_fake, "generated set: folder of videos or stats file")->required();
  fvd_compute->add_option("--protocol", fvd_protocol,
                          "named protocol (osvbench info --protocols): fvd2048_16f, fvd_tf, osv_paper");
  bool fvd_allow_fewer = false;
  fvd_compute->add_flag("--allow-fewer", fvd_allow_fewer,
                        "with --protocol: compute on fewer videos than the protocol takes (the result states N)");
  fvd_stats->add_option("--protocol", fvd_protocol, "named protocol: frames, frame choice, count");
  fvd_stats->add_flag("--allow-fewer", fvd_allow_fewer, "with --protocol: accept fewer videos than it takes");
  fvd_compute->add_option("--out", fvd_compute_out, "also write the result as JSON here");
  bool fvd_fd_inf = false;
  fvd_compute->add_flag("--fd-inf", fvd_fd_inf, "also report FD-infinity (1/N extrapolation; needs per-video features)");

  // compare
  CommonOptions compare_c;
  std::string compare_methods = "teacher,animatelcm,sfv,osv", compare_steps = "1,2,8,25", compare_samplers,
              compare_cfg, compare_format = "md,json,html", compare_out;
  auto* compare = app.add_subcommand(
      "compare", "Sample and score every (method, sampler, steps, cfg) combination; comma lists expand to a grid");
  add_common(compare, compare_c);
  compare->add_option("--methods", compare_methods, "comma list of methods")->capture_default_str();
  compare->add_option("--steps", compare_steps, "comma list of step counts")->capture_default_str();
  compare->add_option("--samplers", compare_samplers, "comma list of samplers (default: each method's own)");
  compare->add_option("--cfg", compare_cfg, "comma list of CFG w_max values or 'none' (default: teacher 3.0, others none)");
  compare->add_option("--format", compare_format, "comma list of md, json, jsonl, html")->capture_default_str();
  compare->add_option("--out", compare_out, "folder for the reports (default: the runs directory)");

  // disc-cost (hidden): one discriminator path's training-step cost as a JSON line; ablate --table
  // fig3 runs it once per path, each in a fresh process.
  DiscCostOptions dc_o;
  int dc_r1 = 1, dc_gen = 1;
  auto* disc_cost = app.add_subcommand("disc-cost", "")->group("");
  disc_cost->add_option("--kind", dc_o.kind, "upsampler, decoder or unet_encoder");
  disc_cost->add_option("--arch", dc_o.arch, "embedded or svd");
  disc_cost->add_option("--preset", dc_o.preset);
  disc_cost->add_option("--device", dc_o.device);
  disc_cost->add_option("--dtype", dc_o.dtype);
  disc_cost->add_option("--iters", dc_o.iters);
  disc_cost->add_option("--r1", dc_r1);
  disc_cost->add_option("--with-generator", dc_gen);

  // ablate
  CommonOptions ablate_c;
  std::string ablate_table;
  bool ablate_list = false;
  auto* ablate = app.add_subcommand("ablate", "Reproduce a paper table's rows (1, 2a ... 2h), a figure's curves (fig1, fig5) or cost table (fig3), or all");
  add_common(ablate, ablate_c);
  ablate->add_option("--table", ablate_table, "table id (1, 2a ... 2h, fidelity, fig1, fig3, fig5: see --list) or all");
  ablate->add_flag("--list", ablate_list, "list the tables and their rows with the paper's values");

  // regress
  CommonOptions regress_c;
  regress_c.preset = "tiny";
  std::string regress_baseline, regress_result, regress_out;
  bool regress_update = false;
  RegressOptions regress_o;
  auto* regress = app.add_subcommand(
      "regress",
      "CI gate: rerun the baseline's rows and fail (exit 1) when a row's FVD is worse beyond the statistical tolerance");
  add_common(regress, regress_c);
  regress->add_option("--baseline", regress_baseline, "baseline JSON (rows, preset and overrides that produced them)")
      ->required();
  regress->add_flag("--update", regress_update,
                    "rerun and rewrite the baseline (creates it with the default regression rows when missing)");
  regress->add_option("--result", regress_result, "judge this compare results.json instead of rerunning");
  regress->add_option("--out", regress_out, "folder for the rerun's results (default: <runs>/regress-<hash>)");
  regress->add_option("--z", regress_o.z, "z of the tolerance z * sqrt(se_base^2 + se_new^2)")->capture_default_str();
  regress->add_option("--rel-floor", regress_o.rel_floor, "smallest tolerance, relative to the baseline FVD")
      ->capture_default_str();

  // report
  CommonOptions report_c;
  std::string report_out;
  std::vector<std::string> report_inputs;
  auto* report = app.add_subcommand(
      "report", "Write one self-contained HTML report of finished compare/ablate runs (default: all under --runs)");
  report->add_option("--results", report_inputs,
                     "compare results.json / ablate.json files or their folders (default: every compare-*/, "
                     "ablate-*/ under the runs folder)");
  add_common(report, report_c);
  report->add_option("--out", report_out, "report file (.html or .json)");

  // info
  InfoOptions info_o;
  auto* info = app.add_subcommand("info", "Print torch version, CUDA devices, threads, FFmpeg and build options");
  info->add_flag("--json", info_o.json, "machine-readable environment (what results record)");
  info->add_flag("--config-keys", info_o.config_keys, "every config key: type, default, meaning");
  info->add_flag("--methods", info_o.methods, "registered methods and their samplers");
  info->add_flag("--presets", info_o.presets, "the presets");
  info->add_flag("--protocols", info_o.protocols, "named FVD protocols");
  info->fallthrough();

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
    if (info->parsed()) {
      print_info(info_o);
      return kExitOk;
    }
    if (prepare->parsed()) {
      const std::set<std::string> known = {"data", "vae", "image_encoder", "teacher", "detector", "backbone"};
      for (const auto& a : comma_list(prepare_only))
        if (!known.count(a))
          throw UsageError(fmt::format("--only: unknown asset '{}'{}", a,
                                       did_you_mean(a, std::vector<std::string>(known.begin(), known.end()))));
      Config cfg = resolve_config(prepare_c, {});
      if (prepare_c.dry_run) return print_dry_run(cfg), kExitOk;
      prepare_command(cfg, comma_list(prepare_only), prepare_force);
      return kExitOk;
    }
    if (train->parsed()) {
      if (train_stage != "1" && train_stage != "2" && train_stage != "all")
        throw UsageError(fmt::format("--stage: expected 1, 2 or all, got '{}'", train_stage));
      std::vector<std::string> sugar;
      if (!train_method.empty()) sugar.push_back("method=" + train_method);
      Config cfg = resolve_config(train_c, sugar);
      const auto& m = MethodRegistry::instance().get(cfg.get<std::string>("method"));
      if (std::find(m.stages.begin(), m.stages.end(), train_stage) == m.stages.end())
        throw UsageError(fmt::format("--stage {} does not apply to '{}' (its stages: {})", train_stage, m.name,
                                     join(m.stages, ", ")));
      parse_device(cfg.get<std::string>("device"));
      if (train_c.dry_run) return print_dry_run(cfg), kExitOk;
      if (!m.train && !cfg.get<std::string>("model.path").empty())
        throw UsageError(fmt::format("train --method {} trains the embedded SVD models; model.path names a given SVD",
                                     m.name));
      const auto svd = ensure_svd_folder(cfg);  // the embedded models are built (prepare) when missing
      if (!m.train) {
        std::cout << m.name << ": " << svd.string() << "\n";
        return kExitOk;
      }
      auto pipe = std::make_shared<SvdPipeline>(svd, cfg);
      std::cout << m.name << ": " << m.train(cfg, pipe, train_stage).string() << "\n";
      return kExitOk;
    }
    if (sample->parsed()) {
      std::vector<std::string> sugar;
      if (!sample_method.empty()) sugar.push_back("method=" + sample_method);
      if (sample_steps) sugar.push_back(fmt::format("sample.steps={}", sample_steps));
      if (!sample_sampler.empty()) sugar.push_back("sample.sampler=" + sample_sampler);
      if (sample_num) sugar.push_back(fmt::format("sample.num_samples={}", sample_num));
      if (!sample_cfg.empty())
        for (auto& o : cfg_overrides(sample_cfg)) sugar.push_back(o);
      Config cfg = resolve_config(sample_c, sugar);
      const auto& m = MethodRegistry::instance().get(cfg.get<std::string>("method"));
      // The method's own sampling defaults (OSV: TTS, 1 step, no CFG) under what the user set.
      if (!m.sample_defaults.empty()) cfg = resolve_config(sample_c, sugar, m.sample_defaults);
      const auto sampler = cfg.get<std::string>("sample.sampler");
      if (std::find(m.samplers.begin(), m.samplers.end(), sampler) == m.samplers.end())
        throw UsageError(fmt::format("method '{}' does not sample with '{}'; its samplers: {}", m.name, sampler,
                                     join(m.samplers, ", ")));
      parse_device(cfg.get<std::string>("device"));
      if (sample_c.dry_run) return print_dry_run(cfg), kExitOk;
      return sample_command(cfg, sample_images, sample_out), kExitOk;
    }
    if (fvd_stats->parsed() || fvd_merge->parsed() || fvd_compute->parsed()) {
      const CommonOptions& c = fvd_stats->parsed() ? fvd_stats_c : fvd_merge->parsed() ? fvd_merge_c : fvd_compute_c;
      Config cfg = resolve_config(c, {});
      const FvdProtocol* protocol = fvd_protocol.empty() ? nullptr : &find_fvd_protocol(fvd_protocol);
      if (protocol) apply_fvd_protocol(cfg, *protocol);
      if (c.dry_run) return print_dry_run(cfg), kExitOk;
      if (fvd_merge->parsed()) return fvd_merge_command(fvd_merge_in, fvd_merge_out), kExitOk;
      if (fvd_compute->parsed())
        return fvd_compute_command(cfg, fvd_real, fvd_fake, fvd_compute_out, fvd_fd_inf, protocol, fvd_allow_fewer),
               kExitOk;
      return fvd_stats_command(cfg, fvd_videos, fvd_stats_out, protocol, fvd_allow_fewer), kExitOk;
    }
    if (compare->parsed()) {
      const auto methods = comma_list(compare_methods);
      const auto steps = comma_list(compare_steps);
      const auto samplers = comma_list(compare_samplers);
      const auto cfgs = comma_list(compare_cfg);
      const auto formats = comma_list(compare_format);
      for (const auto& f : formats)
        if (f != "md" && f != "json" && f != "jsonl" && f != "html")
          throw UsageError(fmt::format("--format: expected md, json, jsonl or html, got '{}'", f));
      for (const auto& s : steps)
        if (auto v = parse_int(s); !v || *v < 1)
          throw UsageError(fmt::format("--steps: expected positive integers, got '{}'", s));
      // llama-bench style: the Cartesian product of every list, one run config per row.
      std::vector<CompareRow> rows;
      std::vector<std::string> refused;
      for (const auto& mname : methods) {
        const auto& m = MethodRegistry::instance().get(mname);
        const auto& ss = samplers.empty() ? m.samplers : samplers;
        std::vector<std::string> cs = cfgs;
        if (cs.empty()) cs = {m.default_cfg};
        for (const auto& sampler : ss) {
          if (std::find(m.samplers.begin(), m.samplers.end(), sampler) == m.samplers.end()) {
            refused.push_back(fmt::format("{} {}: {} does not sample with '{}' (its samplers: {})", mname, sampler,
                                          mname, sampler, join(m.samplers, ", ")));
            continue;
          }
          for (const auto& st : steps)
            for (const auto& cf : cs) {
              rows.emplace_back(mname, sampler, st, cf, resolve_config(compare_c, row_sugar(mname, sampler, st, cf)));
            }
        }
      }
      if (rows.empty())
        throw UsageError("compare: no (method, sampler) combination applies" +
                         (refused.empty() ? std::string() : ": " + join(refused, "; ")));
      if (compare_c.dry_run) {
        std::cout << "| method | sampler | steps | cfg | config hash |\n|---|---|---|---|---|\n";
        for (const auto& [m, s, st, cf, cfg] : rows)
          std::cout << fmt::format("| {} | {} | {} | {} | {} |\n", m, s, st, cf, cfg.short_hash());
        std::cout << rows.size() << " runs planned\n";
        return kExitOk;
      }
      return compare_command(rows, formats, compare_out, refused);
    }
    if (disc_cost->parsed()) {
      dc_o.r1 = dc_r1 != 0;
      dc_o.with_generator = dc_gen != 0;
      std::cout << measure_disc_cost(dc_o).dump() << "\n";
      return kExitOk;
    }
    if (ablate->parsed()) {
      auto tables = table_ids();
      tables.push_back("all");
      if (ablate_list) return list_tables(), kExitOk;
      if (ablate_table.empty()) throw UsageError("ablate: give --table ID or --list");
      if (std::find(tables.begin(), tables.end(), ablate_table) == tables.end())
        throw UsageError(fmt::format("--table: unknown table '{}'{}; tables: {}", ablate_table,
                                     did_you_mean(ablate_table, tables), join(tables, ", ")));
      Config cfg = resolve_config(ablate_c, {});
      if (ablate_c.dry_run) return print_dry_run(cfg), kExitOk;
      if (ablate_table != "all") return ablate_command(ablate_c, ablate_table);
      for (const auto& id : table_ids()) ablate_command(ablate_c, id);
      return kExitOk;
    }
    if (regress->parsed()) return regress_command(regress_c, regress_baseline, regress_update, regress_result,
                                                  regress_out, regress_o);
    if (report->parsed()) {
      Config cfg = resolve_config(report_c, {});
      if (report_c.dry_run) return print_dry_run(cfg), kExitOk;
      const auto path = report_command(cfg, report_inputs, report_out);
      std::cout << "report: " << path.string() << "\n";
      return kExitOk;
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
