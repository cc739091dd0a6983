// Unit test of the discriminator-cost measurement behind `ablate --table fig3`.
#include <gtest/gtest.h>

#include "harness/disc_cost.h"

namespace osv {
namespace {

// Figure 3's discriminator cost on the small preset's embedded models, whose latent has 16 channels
// (model.embedded_latent_channels): the random latents it feeds are the VAE's width, not SVD's 4.
TEST(DiscCost, EmbeddedSmallFeedsLatentsOfTheVaesWidth) {
  for (const char* kind : {"upsampler", "unet_encoder"}) {
    DiscCostOptions o;
    o.kind = kind;
    o.preset = "small";
    o.iters = 1;
    o.with_generator = true;
    const auto j = measure_disc_cost(o);
    EXPECT_GT(j.at("s_per_step").get<double>(), 0.0) << kind;
  }
}

}  // namespace
}  // namespace osv
