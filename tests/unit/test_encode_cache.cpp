// The encoded training set is cached on disk by what the encoding reads: a second encoding of the
// same clips through the same VAE and image encoder reads the file (same bits as encoding again);
// a changed VAE weight or changed clips encode again into a file of their own; a damaged file is
// reported and encoded again.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "tests/unit/method_world.h"

namespace osv {
namespace {
namespace fs = std::filesystem;

std::vector<fs::path> cache_files(const fs::path& dir) {
  std::vector<fs::path> v;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") v.push_back(e.path());
  return v;
}

void expect_same(const EncodedClips& a, const EncodedClips& b) {
  EXPECT_TRUE(torch::equal(a.latents, b.latents));
  EXPECT_TRUE(torch::equal(a.embeds, b.embeds));
  EXPECT_TRUE(torch::equal(a.first_frames, b.first_frames));
}

TEST(EncodeCache, ReusesWhatTheSameInputsEncodedAndNothingElse) {
  auto w = testing::make_world(torch::kCPU);
  auto& pipe = *w->pipe;
  const auto dir = fs::temp_directory_path() / ("osvbench_test_encode_cache_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const int64_t T = w->c.get<long long>("data.frames"), H = w->c.get<long long>("data.height"),
                W = w->c.get<long long>("data.width");
  torch::manual_seed(7);
  const auto videos = torch::randint(0, 256, {3, T, 3, H, W}).to(torch::kUInt8);
  const auto fresh = encode_clips(pipe, videos);

  const auto first = encode_clips_cached(pipe, videos, dir);
  expect_same(first, fresh);
  ASSERT_EQ(cache_files(dir).size(), 1u);
  const auto file = cache_files(dir).front();
  const auto written = fs::last_write_time(file);
  const auto again = encode_clips_cached(pipe, videos, dir);  // read back, not re-encoded
  expect_same(again, fresh);
  EXPECT_EQ(fs::last_write_time(file), written);
  EXPECT_EQ(cache_files(dir).size(), 1u);

  // Other clips: a file of their own.
  auto other = videos.clone();
  other[2][1][0][0][0] = static_cast<uint8_t>(other[2][1][0][0][0].item<int>() ^ 1);
  expect_same(encode_clips_cached(pipe, other, dir), encode_clips(pipe, other));
  EXPECT_EQ(cache_files(dir).size(), 2u);

  // One VAE weight changed: encoded again, and the result is the new VAE's.
  auto weight = pipe.models().vae->parameters().front();
  const auto original = weight.detach().clone();
  {
    torch::NoGradGuard g;
    weight.add_(1e-2);
  }
  const auto changed = encode_clips_cached(pipe, videos, dir);
  expect_same(changed, encode_clips(pipe, videos));
  EXPECT_FALSE(torch::equal(changed.latents, fresh.latents));
  EXPECT_EQ(cache_files(dir).size(), 3u);

  // A damaged file is not trusted: encoded again and rewritten.
  {
    torch::NoGradGuard g;
    weight.copy_(original);
  }
  atomic_write(file, "not a safetensors file");
  expect_same(encode_clips_cached(pipe, videos, dir), fresh);
  expect_same(encode_clips_cached(pipe, videos, dir), fresh);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace osv
