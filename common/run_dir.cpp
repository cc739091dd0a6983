#include "common/run_dir.h"

#include <fmt/format.h>

#include "common/atomic_file.h"
#include "common/errors.h"

namespace osv {
namespace fs = std::filesystem;

fs::path RunDir::path_for(const Config& config) {
  return fs::path(config.get<std::string>("run.root")) /
         fmt::format("{}-{}", config.get<std::string>("method"), config.short_hash());
}

RunDir RunDir::open(const Config& config) {
  RunDir r;
  r.path_ = path_for(config);
  const fs::path cfg = r.path_ / "config.json";
  r.existed_ = fs::exists(cfg);
  if (r.existed_) {
    Config stored;
    try {
      stored = Config::from_json(nlohmann::json::parse(read_file(cfg)));
    } catch (const std::exception& e) {
      throw InputError(fmt::format("run directory '{}' has an unreadable config.json: {}", r.path_.string(), e.what()));
    }
    if (stored.hash() != config.hash())
      throw InputError(fmt::format("run directory '{}' holds a config with hash {}, expected {}; move it aside",
                                   r.path_.string(), stored.short_hash(), config.short_hash()));
    return r;
  }
  fs::create_directories(r.path_);
  atomic_write(cfg, config.json().dump(2) + "\n");
  return r;
}

}  // namespace osv
