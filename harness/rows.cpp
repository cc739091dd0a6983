#include "harness/rows.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <optional>
#include <vector>

#include "common/atomic_file.h"
#include "common/dir_lock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/sha256.h"
#include "common/text.h"
#include "dist/dist.h"
#include "harness/evaluate.h"
#include "harness/assets.h"
#include "harness/builtin_methods.h"
#include "harness/regress.h"
#include "methods/api/registry.h"
#include "methods/svd/embedded.h"

namespace osv {
namespace fs = std::filesystem;

namespace {

// The row key's format. A method's training recipe changed in code reaches the key through its
// recipe tags (RowCache::recipe_of), not through this. 3: OSV's discriminator heads became
// StyleGAN-T's blocks (bumped by hand, before keys carried recipes). 4: keys carry the recipe.
constexpr const char* kVersion = "row-key-4";

std::vector<std::set<std::string>> read_keysets(const fs::path& file) {
  std::vector<std::set<std::string>> out;
  if (!fs::exists(file)) return out;
  try {
    const auto doc = nlohmann::json::parse(read_file(file));  // a named document: the loop must not outlive it
    for (const auto& ks : doc.at("keysets")) out.push_back(ks.get<std::set<std::string>>());
  } catch (const std::exception& e) {
    log::warn("{}: unreadable ({}); rows keyed by it are measured again", file.string(), e.what());
  }
  return out;
}

// sha256 of what a row's "weights" ("kind:path") names: the file, or a folder's UNet (the teacher's
// "svd:<folder>"); empty when it names nothing on disk.
std::string weights_sha256(const nlohmann::json& row) {
  if (!row.contains("weights") || !row["weights"].is_string()) return {};
  const auto w = row["weights"].get<std::string>();
  const auto colon = w.find(':');
  fs::path p = colon == std::string::npos ? fs::path(w) : fs::path(w.substr(colon + 1));
  std::error_code ec;
  if (fs::is_directory(p, ec)) p = p / "unet" / "diffusion_pytorch_model.safetensors";
  if (!fs::is_regular_file(p, ec)) return {};
  return sha256_file_memo(p);
}

// A cached row is trusted only while the weights it sampled are the bits it recorded: a weights
// file replaced in place (a user's animatelcm.weights, a retrained run) measures the row again.
bool weights_unchanged(const nlohmann::json& row, const fs::path& dir) {
  if (!row.contains("weights_sha256")) return true;  // rows cached before weights were recorded
  const auto now = weights_sha256(row);
  if (now.empty() || now == row["weights_sha256"].get<std::string>()) return true;
  log::warn("{}: the weights {} changed since the row was measured; measuring it again", dir.string(),
            row["weights"].get<std::string>());
  return false;
}

}  // namespace

RowCache::RowCache(fs::path root, RecipeFn recipe)
    : root_(std::move(root)), recipe_(recipe ? std::move(recipe) : RecipeFn(&RowCache::recipe_of)) {}

std::set<std::string> RowCache::key_set(const std::set<std::string>& reads) { return result_keys(reads); }

std::string RowCache::key(const Config& cfg, const std::string& detector_sha, const std::set<std::string>& keys,
                          const nlohmann::json& recipe) {
  nlohmann::json values = nlohmann::json::object();
  for (const auto& k : key_set(keys)) values[k] = cfg.at(k);
  const nlohmann::json doc = {
      {"version", kVersion}, {"values", values}, {"detector_sha256", detector_sha}, {"recipe", recipe}};
  return sha256_hex(doc.dump()).substr(0, 16);
}

nlohmann::json RowCache::recipe_of(const Config& cfg) {
  register_builtin_methods();
  nlohmann::json r = nlohmann::json::array();
  const auto method = cfg.get<std::string>("method");
  if (MethodRegistry::instance().contains(method))
    for (const auto& tag : MethodRegistry::instance().get(method).recipe) r.push_back(tag);
  for (const auto& tag : embedded_svd_recipe()) r.push_back(tag);
  return r;
}

nlohmann::json RowCache::lookup(const Config& cfg, const std::string& detector_sha, fs::path* where) const {
  // The previous scheme first: rows measured before keys were derived stay valid.
  const fs::path legacy = root_ / sha256_hex(cfg.hash() + ":" + detector_sha).substr(0, 16);
  if (auto row = read_cached_row(legacy / "row.json"); !row.is_null() && weights_unchanged(row, legacy)) {
    if (where) *where = legacy;
    return row;
  }
  const auto recipe = recipe_(cfg);  // the same for every key set
  for (const auto& ks : read_keysets(root_ / "keysets.json")) {
    const fs::path dir = root_ / ("k-" + key(cfg, detector_sha, ks, recipe));
    if (auto row = read_cached_row(dir / "row.json"); !row.is_null() && weights_unchanged(row, dir)) {
      if (where) *where = dir;
      return row;
    }
  }
  return nullptr;
}

fs::path RowCache::pending() const {
  static std::atomic<unsigned> counter{0};
  const fs::path p = root_ / fmt::format(".pending-{}-{}", ::getpid(), counter++);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

fs::path RowCache::store(const Config& cfg, const std::string& detector_sha, const std::set<std::string>& reads,
                         const nlohmann::json& row, const fs::path& pending) {
  const auto keys = key_set(reads);
  const auto recipe = recipe_(cfg);
  const fs::path dir = root_ / ("k-" + key(cfg, detector_sha, keys, recipe));
  fs::create_directories(root_);
  // Record the key set first: a row stored under a key set that no lookup tries would be lost.
  auto sets = read_keysets(root_ / "keysets.json");
  if (std::find(sets.begin(), sets.end(), keys) == sets.end()) {
    sets.push_back(keys);
    nlohmann::json doc = {{"version", kVersion}, {"keysets", nlohmann::json::array()}};
    for (const auto& s : sets) doc["keysets"].push_back(s);
    atomic_write(root_ / "keysets.json", doc.dump(1) + "\n");
  }
  if (fs::exists(pending)) {
    fs::remove_all(dir);
    fs::rename(pending, dir);
  } else {
    fs::create_directories(dir);
  }
  nlohmann::json stored = row;
  if (stored.contains("videos") && stored["videos"].is_string()) {
    // The videos moved with the folder.
    const fs::path v = stored["videos"].get<std::string>();
    if (!pending.empty() && v.parent_path() == fs::absolute(pending)) stored["videos"] = fs::absolute(dir / v.filename()).string();
  }
  stored["row_key"] = {{"key", dir.filename().string()}, {"reads", keys}, {"recipe", recipe}};
  if (const auto sha = weights_sha256(stored); !sha.empty()) stored["weights_sha256"] = sha;
  atomic_write(dir / "row.json", stored.dump(2) + "\n");
  return dir;
}

Grid expand_grid(const std::vector<std::string>& methods, const std::vector<std::string>& samplers,
                 const std::vector<std::string>& steps, const std::vector<std::string>& cfgs,
                 const std::function<Config(const std::string&, const std::string&, const std::string&,
                                            const std::string&)>& resolve,
                 const std::map<std::string, std::vector<std::string>>& steps_for) {
  Grid g;
  for (const auto& mname : methods) {
    const auto& m = MethodRegistry::instance().get(mname);
    const auto own = steps_for.find(mname);
    const auto& method_steps = own == steps_for.end() ? steps : own->second;
    const auto& ss = samplers.empty() ? m.samplers : samplers;
    const std::vector<std::string> cs = cfgs.empty() ? std::vector<std::string>{m.default_cfg} : cfgs;
    for (const auto& sampler : ss) {
      if (std::find(m.samplers.begin(), m.samplers.end(), sampler) == m.samplers.end()) {
        g.refused.push_back(fmt::format("{} {}: {} does not sample with '{}' (its samplers: {})", mname, sampler, mname,
                                        sampler, join(m.samplers, ", ")));
        continue;
      }
      for (const auto& st : method_steps)
        for (const auto& cf : cs) g.rows.push_back(RowSpec{mname, sampler, st, cf, resolve(mname, sampler, st, cf)});
    }
  }
  return g;
}

RowsRun run_rows(const std::vector<RowSpec>& rows, const fs::path& out, std::vector<std::string> refused,
                 bool stream_jsonl) {
  const Config& base = rows.front().config;
  std::unique_ptr<Evaluator> ev;  // built on the first row not measured before
  // In a process group rank 0 owns the files (the cache, the locks, the results): it decides
  // whether a row was measured before, every rank samples and scores its share of a row that was
  // not, and rank 0's row is every rank's.
  const bool main = dist::is_main();
  if (main) fs::create_directories(out);
  // Two processes running the same grid: the second waits, then reads every row from the cache.
  DirLock out_lock(out / ".lock", "writing " + out.string());
  if (main) fs::remove(out / "results.jsonl");  // this run's rows only
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
      // A row is cached by what its measurement read and the detector weights' sha256 under
      // <runs>/rows/, so compare, ablate and regress share measured rows.
      RowCache cache(fs::path(cfg.get<std::string>("run.root")) / "rows");
      const auto detector_sha = detector_weights_sha256(cfg);
      fs::path where;
      nlohmann::json row = main ? cache.lookup(cfg, detector_sha, &where) : nlohmann::json();
      // Another process measuring the same row: wait for it, then read its result.
      std::optional<DirLock> lock;
      if (row.is_null() && main) {
        lock.emplace(fs::path(cfg.get<std::string>("run.root")) / "rows" / ".locks" /
                         (sha256_hex(cfg.hash() + ":" + detector_sha).substr(0, 16) + ".lock"),
                     fmt::format("measuring {} {} {} step(s) cfg {}", m, s, st, cf));
        row = cache.lookup(cfg, detector_sha, &where);  // it may have finished just before we locked
      }
      const bool cached = dist::world() == 1 ? !row.is_null() : dist::all_gather(main && !row.is_null() ? "1" : "0")[0] == "1";
      if (cached) {
        log::info("{} {} {} step(s) cfg {}: measured before ({})", m, s, st, cf, where.string());
      } else {
        if (!ev) ev = std::make_unique<Evaluator>(base);
        const fs::path pending = main ? cache.pending() : fs::path();
        std::set<std::string> reads = ev->construction_reads();
        {
          ConfigReadLog log;
          row = ev->run_row(cfg, main ? pending / "videos" : fs::path());
          const auto k = log.keys();
          reads.insert(k.begin(), k.end());
        }
        if (main) {
          row["videos"] = fs::absolute(pending / "videos").string();
          const fs::path dir = cache.store(cfg, detector_sha, reads, row, pending);
          row = read_cached_row(dir / "row.json");
        }
      }
      if (dist::world() > 1) row = nlohmann::json::parse(dist::all_gather(main ? row.dump() : "")[0]);
      r.results.push_back(row);
      r.per_row.back() = row;
      if (stream_jsonl && main) {
        std::ofstream f(out / "results.jsonl", std::ios::app);
        f << row.dump() << "\n";
        f.flush();
        if (!f) throw std::runtime_error(fmt::format("cannot append to {}", (out / "results.jsonl").string()));
      }
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

}  // namespace osv
