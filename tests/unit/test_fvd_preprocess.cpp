// FVD preprocessing: the TF1 legacy bilinear mapping against hand-computed values, and the
// layout and range of every mode.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "metrics/fvd/i3d.h"
#include "metrics/fvd/preprocess.h"

namespace osv {
namespace {

TEST(FvdPreprocess, TfLegacyBilinearDownsamplesAsHandComputed) {
  // Row [0, 10, 20, 30] to 3 columns: src = dst * 4/3 = 0, 1.333.., 2.666..
  //   -> 0, 10 + 10/3, 20 + 20/3 (no half-pixel centres: dst 0 samples src 0 exactly).
  auto x = torch::tensor({0.f, 10.f, 20.f, 30.f}).view({1, 1, 1, 4});
  auto y = resize_bilinear_tf_legacy(x, 1, 3);
  EXPECT_NEAR(y[0][0][0][0].item<float>(), 0.0f, 1e-5);
  EXPECT_NEAR(y[0][0][0][1].item<float>(), 13.333333f, 1e-4);
  EXPECT_NEAR(y[0][0][0][2].item<float>(), 26.666667f, 1e-4);
}

TEST(FvdPreprocess, TfLegacyBilinearUpsamplesAndClampsTheLastNeighbour) {
  // 2 -> 4: src = 0, 0.5, 1, 1.5; the neighbour of 1.5 is clamped to index 1.
  auto x = torch::tensor({2.f, 6.f}).view({1, 1, 1, 2});
  auto y = resize_bilinear_tf_legacy(x, 1, 4);
  const std::vector<float> expected{2.f, 4.f, 6.f, 6.f};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[0][0][0][i].item<float>(), expected[i], 1e-6) << i;
  // 2-D: the two axes are independent; 2x2 -> 3x3 (src = 0, 2/3, 4/3).
  auto z = resize_bilinear_tf_legacy(torch::tensor({0.f, 3.f, 6.f, 9.f}).view({1, 1, 2, 2}), 3, 3);
  EXPECT_NEAR(z[0][0][1][1].item<float>(), (2.f / 3) * 6 + (2.f / 3) * 3, 1e-5);  // 0 + y*6 + x*3
  EXPECT_NEAR(z[0][0][2][2].item<float>(), 9.f, 1e-5);
}

TEST(FvdPreprocess, ModesProduceTheDetectorLayouts) {
  torch::manual_seed(0);
  auto videos = torch::randint(0, 256, {2, 5, 3, 40, 60}, torch::kUInt8);
  videos[0][0][0][0][0] = 255;  // the extremes map to +-1 up to float rounding
  videos[0][0][0][0][1] = 0;
  auto tf = preprocess_videos(videos, FvdPreprocess::TF);
  EXPECT_EQ(tf.sizes(), (std::vector<int64_t>{2, 3, 5, 224, 224}));
  EXPECT_GE(tf.min().item<float>(), -1.0f - 1e-6f);
  EXPECT_LE(tf.max().item<float>(), 1.0f + 1e-6f);
  auto center = preprocess_videos(videos, FvdPreprocess::Center);
  EXPECT_EQ(center.sizes(), (std::vector<int64_t>{2, 3, 5, 224, 224}));
  auto sg = preprocess_videos(videos, FvdPreprocess::StyleganV);
  EXPECT_EQ(sg.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(sg, videos.permute({0, 2, 1, 3, 4})));
  EXPECT_THROW(preprocess_videos(torch::zeros({2, 5, 4, 8, 8}), FvdPreprocess::TF), std::exception);
  EXPECT_EQ(parse_fvd_preprocess("center"), FvdPreprocess::Center);
}

TEST(FvdPreprocess, TfSamePaddingMatchesTensorFlow) {
  // TF "SAME": out = ceil(in / stride), pad = max((out - 1) * stride + k - in, 0), front = pad / 2.
  for (int64_t s : {5, 16, 17, 224, 225})
    for (int64_t k : {1, 2, 3, 7})
      for (int64_t st : {1, 2}) {
        const auto [f, b] = tf_same_padding(s, k, st);
        const int64_t out = (s + st - 1) / st;
        const int64_t pad = std::max<int64_t>((out - 1) * st + k - s, 0);
        EXPECT_EQ(f + b, pad) << s << " " << k << " " << st;
        EXPECT_EQ(f, pad / 2);
      }
}

}  // namespace
}  // namespace osv
