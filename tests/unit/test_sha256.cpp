// SHA-256 against the FIPS 180-4 test vectors.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/atomic_file.h"
#include "common/sha256.h"

namespace osv {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, ChunkingDoesNotMatter) {
  const std::string data(1000, 'q');
  Sha256 h;
  for (std::size_t i = 0; i < data.size(); i += 7) h.update(std::string_view(data).substr(i, 7));
  EXPECT_EQ(h.hex_digest(), sha256_hex(data));
}

TEST(Sha256, File) {
  const auto p = std::filesystem::temp_directory_path() / "osvbench_test_sha256.bin";
  atomic_write(p, "abc");
  EXPECT_EQ(sha256_file(p), sha256_hex("abc"));
  std::filesystem::remove(p);
}

}  // namespace
}  // namespace osv
