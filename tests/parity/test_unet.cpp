// SVD UNet: C++ vs diffusers UNetSpatioTemporalConditionModel (tiny random config, 4 frames).
#include "models/unet_svd.h"
#include "tests/parity/parity_util.h"

namespace osv {
namespace {

TEST(ParityUNet, MatchesDiffusers) {
  torch::NoGradGuard g;
  auto m = load_unet_svd(parity::dir() / "unet");
  const auto ref = parity::io("unet");
  auto out = m->forward(ref.tensor("sample"), ref.tensor("timestep"), ref.tensor("encoder_hidden_states"),
                        ref.tensor("added_time_ids"));
  parity::expect_close("unet out", out, ref.tensor("out"), 1e-4);
}

}  // namespace
}  // namespace osv
