// SHA-256 (FIPS 180-4) for content hashes: run configs, checkpoints, detector weights.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace osv {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::array<std::uint8_t, 32> digest();  // finalises; the object must not be updated after
  std::string hex_digest();

 private:
  void block(const std::uint8_t* p);
  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buf_{};
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
};

std::string sha256_hex(std::string_view data);
// Streams the file; throws osv::InputError naming it when unreadable.
std::string sha256_file(const std::filesystem::path& path);
// sha256_file, computed once per (absolute path, modification time, size) and process: what the
// row cache and the detector's identity ask of the same multi-GB weights files again and again.
std::string sha256_file_memo(const std::filesystem::path& path);

}  // namespace osv
