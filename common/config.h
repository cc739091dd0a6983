// Run configuration: a JSON document resolved from a preset (tiny, small, svd), an optional
// JSON file and `key=value` overrides, validated against one schema of typed keys.
//
// Every knob SPEC.md marks [default] lives in the schema with its default and its doc.
// The config hash (SHA-256 of the canonical JSON of all result-affecting keys) names the
// run directory; keys that cannot change results (output paths, threads, log cadence) are
// recorded but not hashed.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace osv {

enum class KeyType { Int, Float, Bool, String, IntList, FloatList, StringList };
std::string_view key_type_name(KeyType t);  // "integer", "number", ..., used in errors

struct KeySpec {
  std::string path;                  // dotted, e.g. "sample.steps"
  KeyType type;
  nlohmann::json default_value;
  std::string doc;
  std::vector<std::string> choices;  // String keys only; empty = free text
  std::optional<double> min;         // numeric keys and list elements
  std::optional<double> max;
  bool hashed = true;                // false: recorded, but does not change results
  std::string pattern;               // String keys: ECMAScript regex the whole value must match
  std::string pattern_doc;           // how the error names the accepted form
};

// All known keys, in documentation order.
const std::vector<KeySpec>& config_schema();
const KeySpec* find_key(std::string_view path);
std::vector<std::string> preset_names();
// One-line description of a preset.
std::string preset_description(std::string_view name);

class Config {
 public:
  // preset, then `defaults` (assignments, e.g. a method's own sampling defaults), then `file` (a JSON
  // object, nested or with dotted keys), then overrides in order.
  // Throws osv::UsageError naming the offending key and the expected type.
  static Config resolve(const std::string& preset, const std::vector<std::string>& overrides,
                        const std::optional<std::filesystem::path>& file = std::nullopt,
                        const std::vector<std::string>& defaults = {});
  // Reads a resolved config (a run's config.json) back; validates every key.
  static Config from_json(const nlohmann::json& j);

  // Applies one "key=value" override (key may be a unique leaf name: "steps").
  void apply_override(std::string_view assignment);
  // Sets one key from its text form with the schema's type checks.
  void set_text(std::string_view path, std::string_view value);
  // Sets one key from JSON (type-checked).
  void set_json(std::string_view path, const nlohmann::json& value);

  const nlohmann::json& json() const { return json_; }  // nested, sorted keys
  const nlohmann::json& at(std::string_view path) const;
  template <typename T>
  T get(std::string_view path) const { return at(path).get<T>(); }

  std::string preset() const;
  // Hex SHA-256 over the canonical JSON of the hashed keys; stable across key order.
  std::string hash() const;
  std::string short_hash() const { return hash().substr(0, 12); }
  // The hashed subset, canonical (what hash() digests).
  std::string canonical() const;

 private:
  nlohmann::json json_ = nlohmann::json::object();
};

// Records the keys read through Config::at / Config::get (by any Config, from any thread) while it
// lives: what a stage actually reads, so a stage's cache key can be checked against it. Logs may
// nest (every live log records). Reads through Config::json() and the hash are not recorded.
class ConfigReadLog {
 public:
  ConfigReadLog();
  ~ConfigReadLog();
  ConfigReadLog(const ConfigReadLog&) = delete;
  ConfigReadLog& operator=(const ConfigReadLog&) = delete;
  std::set<std::string> keys() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The keys of `keys` that can change results: hashed schema keys ("preset" excluded).
std::set<std::string> result_keys(const std::set<std::string>& keys);

// The hashed schema keys in `read` that `declared` does not name — `declared` is a stage's cache
// key: config paths as object keys at any depth — and that no prefix in `covered` covers (e.g.
// "data." when the key holds the data set's own content-derived identity). Sorted.
std::vector<std::string> undeclared_reads(const std::set<std::string>& read, const nlohmann::json& declared,
                                          const std::vector<std::string>& covered = {});

// Resolves a user-typed key to a schema path: exact match, else a unique leaf/suffix match.
// Throws UsageError for unknown ("did you mean") or ambiguous keys.
std::string resolve_key(std::string_view key);

}  // namespace osv
