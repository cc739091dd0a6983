// On-disk cache of decoded clips (and later VAE latents): one safetensors file per entry, named by
// the SHA-256 of what produced it (source identity + decoding options), written atomically. A
// reader never sees a half-written entry under its final name; an entry that fails to open
// (truncated by a full disk, damaged) is deleted and rebuilt. The second epoch reads the cache.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <string>

namespace osv {

class ClipCache {
 public:
  explicit ClipCache(std::filesystem::path dir);
  // The cached tensor for `key`, or `make()`'s result, stored first. `key` is any text that
  // identifies the content (it is hashed); `describe` goes into the entry's metadata.
  torch::Tensor get_or_make(const std::string& key, const std::function<torch::Tensor()>& make,
                            const std::string& describe = "");
  bool contains(const std::string& key) const;
  std::filesystem::path entry_path(const std::string& key) const;
  int64_t hits() const { return hits_; }
  int64_t misses() const { return misses_; }
  int64_t rebuilt() const { return rebuilt_; }

 private:
  std::filesystem::path dir_;
  int64_t hits_ = 0, misses_ = 0, rebuilt_ = 0;
};

// The identity of a file for cache keys: path, size and modification time.
std::string file_identity(const std::filesystem::path& p);

// VAE latents of clips, cached by (clip key, VAE weights hash, encoding mode): the encoder runs
// once per clip and setting; later epochs read the latents.
class LatentCache {
 public:
  LatentCache(std::filesystem::path dir, std::string vae_sha256, std::string mode = "mode");
  // encode(clip) -> latents; `clip_key` identifies the clip's content.
  torch::Tensor get_or_encode(const std::string& clip_key, const torch::Tensor& clip,
                              const std::function<torch::Tensor(const torch::Tensor&)>& encode);
  const ClipCache& cache() const { return cache_; }

 private:
  ClipCache cache_;
  std::string vae_sha256_, mode_;
};

}  // namespace osv
