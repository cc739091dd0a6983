// CLIP vision with projection and the SVD image preprocessing: C++ vs transformers/diffusers.
#include "models/clip_vision.h"
#include "tests/parity/parity_util.h"

namespace osv {
namespace {

TEST(ParityClip, PreprocessingMatchesTheSvdPipeline) {
  const auto ref = parity::io("clip");
  auto m = load_clip_vision(parity::dir() / "clip");
  auto px = svd_clip_preprocess(ref.tensor("image"), m->config().image_size);
  parity::expect_close("clip svd preprocessing", px, ref.tensor("pixel_values"), 1e-4);
}

TEST(ParityClip, MatchesTransformers) {
  torch::NoGradGuard g;
  const auto ref = parity::io("clip");
  auto m = load_clip_vision(parity::dir() / "clip");
  auto out = m->forward(ref.tensor("pixel_values"));
  parity::expect_close("clip last_hidden_state", out.last_hidden_state, ref.tensor("last_hidden_state"), 1e-4);
  parity::expect_close("clip image_embeds", out.image_embeds, ref.tensor("image_embeds"), 1e-4);
}

}  // namespace
}  // namespace osv
