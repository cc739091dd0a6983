// The clip cache (second read hits; damaged entries are rebuilt) and the background loader
// (order kept, skips passed over, bounded, errors surface in the consumer).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <filesystem>
#include <numeric>

#include "common/atomic_file.h"
#include "datasets/clip_cache.h"
#include "datasets/loader.h"
#include "datasets/synthetic.h"

namespace osv {
namespace {
namespace fs = std::filesystem;

TEST(ClipCache, SecondReadHitsAndDamagedEntriesAreRebuilt) {
  const auto dir = fs::temp_directory_path() / "osvbench_test_clip_cache";
  fs::remove_all(dir);
  ClipCache cache(dir);
  SyntheticOptions o;
  o.frames = 4;
  o.height = 16;
  o.width = 16;
  int made = 0;
  auto make = [&] {
    ++made;
    return synthetic_clip(o, 3).video;
  };
  auto a = cache.get_or_make("synthetic|seed0|3|4x16x16", make);
  auto b = cache.get_or_make("synthetic|seed0|3|4x16x16", make);
  EXPECT_EQ(made, 1);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_EQ(cache.hits(), 1);
  // A truncated entry (a process killed by a full disk, say) is detected and rebuilt.
  const auto p = cache.entry_path("synthetic|seed0|3|4x16x16");
  const auto bytes = read_file(p);
  atomic_write(p, bytes.substr(0, bytes.size() / 2));
  auto c = cache.get_or_make("synthetic|seed0|3|4x16x16", make);
  EXPECT_EQ(made, 2);
  EXPECT_EQ(cache.rebuilt(), 1);
  EXPECT_TRUE(torch::equal(a, c));
  fs::remove_all(dir);
}

TEST(ClipLoader, KeepsOrderSkipsAndIsBounded) {
  std::vector<int64_t> order(40);
  std::iota(order.begin(), order.end(), 0);
  std::atomic<int64_t> produced{0};
  ClipLoader loader(
      order,
      [&](int64_t i) -> std::optional<torch::Tensor> {
        ++produced;
        if (i % 7 == 3) return std::nullopt;  // a broken file
        return torch::full({2}, static_cast<double>(i));
      },
      /*threads=*/3, /*capacity=*/4);
  int64_t last = -1, count = 0;
  while (auto t = loader.next()) {
    const auto v = static_cast<int64_t>((*t)[0].item<double>());
    EXPECT_GT(v, last);
    EXPECT_NE(v % 7, 3);
    last = v;
    ++count;
    // Workers never run more than `capacity` positions ahead of the consumer.
    EXPECT_LE(produced.load(), static_cast<int64_t>(v) + 1 + 4 + 3);
  }
  EXPECT_EQ(count, 40 - 6);
  EXPECT_EQ(loader.skipped(), 6);
}

TEST(ClipLoader, ProducerErrorsReachTheConsumer) {
  ClipLoader loader({0, 1, 2}, [](int64_t i) -> std::optional<torch::Tensor> {
    if (i == 1) throw std::runtime_error("disk on fire");
    return torch::zeros({1});
  });
  EXPECT_TRUE(loader.next().has_value());
  EXPECT_THROW(loader.next(), std::runtime_error);
}

TEST(ClipLoader, BatchesStack) {
  std::vector<int64_t> order{0, 1, 2, 3, 4};
  ClipLoader loader(order, [](int64_t i) -> std::optional<torch::Tensor> { return torch::full({3}, i); }, 2, 8);
  auto b = loader.next_batch(2);
  EXPECT_EQ(b.sizes(), (std::vector<int64_t>{2, 3}));
  loader.next_batch(2);
  EXPECT_EQ(loader.next_batch(2).size(0), 1);
  EXPECT_FALSE(loader.next_batch(2).defined());
}

}  // namespace
}  // namespace osv

namespace osv {
namespace {

TEST(LatentCache, EncodesOncePerClipAndVae) {
  const auto dir = std::filesystem::temp_directory_path() / "osvbench_test_latent_cache";
  std::filesystem::remove_all(dir);
  int encoded = 0;
  auto encode = [&](const torch::Tensor& clip) {
    ++encoded;
    return clip.to(torch::kFloat32).mean({1}, true);  // a stand-in encoder: [T, 1, H, W]
  };
  const auto clip = torch::randint(0, 255, {4, 3, 8, 8}, torch::kUInt8);
  LatentCache a(dir, "vae-hash-1");
  auto l1 = a.get_or_encode("clip-7", clip, encode);
  auto l2 = a.get_or_encode("clip-7", clip, encode);
  EXPECT_EQ(encoded, 1);
  EXPECT_TRUE(torch::equal(l1, l2));
  LatentCache b(dir, "vae-hash-2");  // other VAE weights: other latents
  b.get_or_encode("clip-7", clip, encode);
  EXPECT_EQ(encoded, 2);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace osv
