// The rows machinery of compare, ablate and regress: a row's spec (method, sampler, steps, cfg and
// its resolved config), the compare grid's expansion, the runner that measures rows through one
// Evaluator, and the measured-rows cache under <run.root>/rows/, keyed by what a row actually read.
//
// A row's key is the SHA-256 of the values of the hashed config keys its measurement read (the
// method's sampling and training knobs, the data and FVD knobs, the embedded assets' knobs — all
// recorded by a ConfigReadLog while the row was measured, the Evaluator's construction included),
// the detector weights' sha256, and the recipe of the code that trained the weights the row samples
// (the method's MethodInfo::recipe and the embedded models' version tags: a training recipe changed
// in code, with its stage keys' version bumped, measures that method's rows again and no other's). Editing a knob a row never read (sfv.iters for the teacher's
// row) or adding a config key keeps the row; changing one it read measures it again. The key sets
// seen so far live in rows/keysets.json; a lookup tries each. Rows cached by the previous scheme
// (the whole config's hash + the detector's sha256) are still found.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"

namespace osv {

// One row: what the user asked for (as text, as printed) and the config it resolves to.
struct RowSpec {
  std::string method, sampler, steps, cfg;
  Config config;
};

// compare's grid: the Cartesian product of methods x samplers (each method's own when empty) x
// steps (a method's own list in `steps_for` where it has one) x cfgs (each method's default CFG
// when empty), one config per row from `resolve`. Combinations a method cannot sample are added to
// `refused` with the reason.
struct Grid {
  std::vector<RowSpec> rows;
  std::vector<std::string> refused;
};
Grid expand_grid(const std::vector<std::string>& methods, const std::vector<std::string>& samplers,
                 const std::vector<std::string>& steps, const std::vector<std::string>& cfgs,
                 const std::function<Config(const std::string& method, const std::string& sampler,
                                            const std::string& steps, const std::string& cfg)>& resolve,
                 const std::map<std::string, std::vector<std::string>>& steps_for = {});

// What running rows produced, aligned with the rows.
struct RowsRun {
  nlohmann::json results = nlohmann::json::array();  // the rows that were measured (or read from the cache)
  std::vector<std::string> refused;                  // "<row>: <reason>"
  std::vector<nlohmann::json> per_row;               // null when refused
  std::vector<std::string> per_row_reason;           // why a row was refused
};

// Measures every row through one Evaluator (shared real statistics), reading rows measured before
// from the cache and waiting for another process measuring the same row. With `stream_jsonl`,
// each row is appended to out/results.jsonl as it finishes. Rows that cannot run are refused with
// the reason; `refused` are carried over (rows refused before running).
RowsRun run_rows(const std::vector<RowSpec>& rows, const std::filesystem::path& out,
                 std::vector<std::string> refused = {}, bool stream_jsonl = true);

class RowCache {
 public:
  // The recipe tags a row's key includes (default: recipe_of).
  using RecipeFn = std::function<nlohmann::json(const Config&)>;
  explicit RowCache(std::filesystem::path root, RecipeFn recipe = {});  // <run.root>/rows

  // The trusted cached row (read_cached_row) for `cfg` measured with detector weights `detector_sha`,
  // or null. `where` receives its folder.
  nlohmann::json lookup(const Config& cfg, const std::string& detector_sha,
                        std::filesystem::path* where = nullptr) const;

  // A fresh folder for a row being measured (its videos go there); store() moves it into place.
  std::filesystem::path pending() const;

  // Stores `row` under the key of `reads` (filtered to hashed schema keys) and records the key set;
  // moves `pending` (if it exists) to the row's folder. Returns the folder.
  std::filesystem::path store(const Config& cfg, const std::string& detector_sha, const std::set<std::string>& reads,
                              const nlohmann::json& row, const std::filesystem::path& pending);

  // The row key of `cfg` over `keys` (hashed schema keys only), the detector and the recipe tags.
  static std::string key(const Config& cfg, const std::string& detector_sha, const std::set<std::string>& keys,
                         const nlohmann::json& recipe);
  // The row's recipe: the config's method's MethodInfo::recipe (none for a method the registry does
  // not know), then embedded_svd_recipe().
  static nlohmann::json recipe_of(const Config& cfg);
  // The key set a read log gives: hashed schema keys only, "preset" excluded.
  static std::set<std::string> key_set(const std::set<std::string>& reads);

 private:
  std::filesystem::path root_;
  RecipeFn recipe_;
};

}  // namespace osv
