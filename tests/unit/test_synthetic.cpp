// Synthetic clips: deterministic, varied, moving.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "datasets/synthetic.h"

namespace osv {
namespace {

TEST(Synthetic, DeterministicFromSeedAndIndex) {
  SyntheticOptions o;
  o.frames = 6;
  o.height = 32;
  o.width = 48;
  auto a = synthetic_clip(o, 5), b = synthetic_clip(o, 5), c = synthetic_clip(o, 6);
  EXPECT_EQ(a.video.sizes(), (std::vector<int64_t>{6, 3, 32, 48}));
  EXPECT_EQ(a.video.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(a.video, b.video));
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_FALSE(torch::equal(a.video, c.video));
  o.seed = 1;
  EXPECT_FALSE(torch::equal(synthetic_clip(o, 5).video, a.video));
}

TEST(Synthetic, ClipsMoveAndVary) {
  SyntheticOptions o;
  o.frames = 8;
  o.height = 48;
  o.width = 48;
  double min_motion = 1e9;
  std::set<std::string> shapes;
  for (int i = 0; i < 20; ++i) {
    auto clip = synthetic_clip(o, i);
    auto v = clip.video.to(torch::kFloat32);
    const double motion = (v.slice(0, 1) - v.slice(0, 0, -1)).abs().mean().item<double>();
    min_motion = std::min(min_motion, motion);
    for (const auto& ob : clip.labels["objects"]) shapes.insert(ob["shape"].get<std::string>());
    EXPECT_GE(clip.labels["objects"].size(), 2u);
  }
  EXPECT_GT(min_motion, 0.5);  // every clip moves (mean absolute frame difference, 0..255)
  EXPECT_EQ(shapes.size(), 4u);
}

TEST(Synthetic, SplitIsDisjoint) {
  SyntheticSplit s{100, 10};
  EXPECT_EQ(s.test_index(9), 9);
  EXPECT_EQ(s.train_index(0), 10);
}

}  // namespace
}  // namespace osv
