#include "datasets/clip_cache.h"

#include <fmt/format.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/sha256.h"
#include "models/safetensors.h"

namespace osv {
namespace fs = std::filesystem;

ClipCache::ClipCache(fs::path dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }

fs::path ClipCache::entry_path(const std::string& key) const {
  const auto h = sha256_hex(key);
  return dir_ / h.substr(0, 2) / (h + ".safetensors");
}

bool ClipCache::contains(const std::string& key) const { return fs::exists(entry_path(key)); }

torch::Tensor ClipCache::get_or_make(const std::string& key, const std::function<torch::Tensor()>& make,
                                     const std::string& describe) {
  const auto p = entry_path(key);
  if (fs::exists(p)) {
    try {
      auto t = SafetensorsFile::open(p).tensor("clip");
      ++hits_;
      return t;
    } catch (const InputError& e) {
      log::warn("clip cache: damaged entry rebuilt ({})", e.what());
      std::error_code ec;
      fs::remove(p, ec);
      ++rebuilt_;
    }
  }
  ++misses_;
  auto t = make();
  fs::create_directories(p.parent_path());
  save_safetensors(p, {{"clip", t}}, {{"key", key}, {"describe", describe}});
  return t;
}

LatentCache::LatentCache(fs::path dir, std::string vae_sha256, std::string mode)
    : cache_(std::move(dir)), vae_sha256_(std::move(vae_sha256)), mode_(std::move(mode)) {}

torch::Tensor LatentCache::get_or_encode(const std::string& clip_key, const torch::Tensor& clip,
                                         const std::function<torch::Tensor(const torch::Tensor&)>& encode) {
  const std::string key = fmt::format("latents|{}|vae {}|{}", clip_key, vae_sha256_, mode_);
  return cache_.get_or_make(key, [&] { return encode(clip).contiguous(); }, "VAE latents (" + mode_ + ")");
}

std::string file_identity(const fs::path& p) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  const auto mtime = fs::last_write_time(p, ec).time_since_epoch().count();
  return fmt::format("{}|{}|{}", fs::absolute(p).string(), size, mtime);
}

}  // namespace osv
