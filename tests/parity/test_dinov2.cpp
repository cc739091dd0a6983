// DINOv2: C++ vs transformers Dinov2Model on a random-initialised tiny config, at the native
// input size and at another size (position-embedding interpolation). Tolerance 1e-4 (fp32, CPU).
#include "models/dinov2.h"
#include "tests/parity/parity_util.h"

namespace osv {
namespace {

TEST(ParityDinov2, MatchesTransformers) {
  torch::NoGradGuard g;
  auto m = load_dinov2(parity::dir() / "dinov2");
  const auto ref = parity::io("dinov2");
  for (const std::string tag : {"native", "other"}) {
    auto out = m->forward(ref.tensor(tag + ".pixel_values"), /*output_hidden_states=*/true);
    parity::expect_close("dinov2 " + tag + " last_hidden_state", out.last_hidden_state,
                         ref.tensor(tag + ".last_hidden_state"), 1e-4);
    parity::expect_close("dinov2 " + tag + " pooler_output", out.pooler_output, ref.tensor(tag + ".pooler_output"),
                         1e-4);
    ASSERT_EQ(out.hidden_states.size(), static_cast<size_t>(m->config().num_hidden_layers + 1));
    for (size_t i = 0; i < out.hidden_states.size(); ++i)
      parity::expect_close("dinov2 " + tag + " hidden_states." + std::to_string(i), out.hidden_states[i],
                           ref.tensor(tag + ".hidden_states." + std::to_string(i)), 1e-4);
  }
}

}  // namespace
}  // namespace osv
