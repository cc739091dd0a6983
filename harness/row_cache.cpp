#include "harness/row_cache.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include "common/atomic_file.h"
#include "common/log.h"
#include "common/sha256.h"
#include "harness/regress.h"

namespace osv {
namespace fs = std::filesystem;

namespace {

constexpr const char* kVersion = "row-key-2";

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

}  // namespace

RowCache::RowCache(fs::path root) : root_(std::move(root)) {}

std::set<std::string> RowCache::key_set(const std::set<std::string>& reads) { return result_keys(reads); }

std::string RowCache::key(const Config& cfg, const std::string& detector_sha, const std::set<std::string>& keys) {
  nlohmann::json values = nlohmann::json::object();
  for (const auto& k : key_set(keys)) values[k] = cfg.at(k);
  const nlohmann::json doc = {{"version", kVersion}, {"values", values}, {"detector_sha256", detector_sha}};
  return sha256_hex(doc.dump()).substr(0, 16);
}

nlohmann::json RowCache::lookup(const Config& cfg, const std::string& detector_sha, fs::path* where) const {
  // The previous scheme first: rows measured before keys were derived stay valid.
  const fs::path legacy = root_ / sha256_hex(cfg.hash() + ":" + detector_sha).substr(0, 16);
  if (auto row = read_cached_row(legacy / "row.json"); !row.is_null()) {
    if (where) *where = legacy;
    return row;
  }
  for (const auto& ks : read_keysets(root_ / "keysets.json")) {
    const fs::path dir = root_ / ("k-" + key(cfg, detector_sha, ks));
    if (auto row = read_cached_row(dir / "row.json"); !row.is_null()) {
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
  const fs::path dir = root_ / ("k-" + key(cfg, detector_sha, keys));
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
  stored["row_key"] = {{"key", dir.filename().string()}, {"reads", keys}};
  atomic_write(dir / "row.json", stored.dump(2) + "\n");
  return dir;
}

}  // namespace osv
