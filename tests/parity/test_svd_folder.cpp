// A whole diffusers SVD folder (saved by StableVideoDiffusionPipeline.save_pretrained) loads in
// fp32 and bf16; the fp32 UNet reproduces the reference output.
#include <fstream>

#include "models/svd_folder.h"
#include "tests/parity/parity_util.h"

namespace osv {
namespace {

TEST(ParitySvdFolder, LoadsEveryComponentInFp32) {
  torch::NoGradGuard g;
  auto f = load_svd_folder(parity::dir() / "svd", torch::kFloat32);
  EXPECT_EQ(f.scheduler_config.value("prediction_type", ""), "v_prediction");
  EXPECT_DOUBLE_EQ(f.vae->config().scaling_factor, 0.18215);
  const auto ref = parity::io("unet");
  auto out = f.unet->forward(ref.tensor("sample"), ref.tensor("timestep"), ref.tensor("encoder_hidden_states"),
                             ref.tensor("added_time_ids"));
  parity::expect_close("svd folder unet (fp32)", out, ref.tensor("out"), 1e-4);
  const auto clip = parity::io("clip");
  parity::expect_close("svd folder image_encoder (fp32)", f.image_encoder->forward(clip.tensor("pixel_values")).image_embeds,
                       clip.tensor("image_embeds"), 1e-4);
}

TEST(ParitySvdFolder, LoadsInBf16) {
  torch::NoGradGuard g;
  auto f = load_svd_folder(parity::dir() / "svd", torch::kBFloat16);
  for (const auto& p : f.unet->parameters()) ASSERT_EQ(p.scalar_type(), torch::kBFloat16);
  for (const auto& p : f.vae->parameters()) ASSERT_EQ(p.scalar_type(), torch::kBFloat16);
  const auto ref = parity::io("unet");
  auto out = f.unet->forward(ref.tensor("sample").to(torch::kBFloat16), ref.tensor("timestep"),
                             ref.tensor("encoder_hidden_states").to(torch::kBFloat16),
                             ref.tensor("added_time_ids"));
  // bf16 keeps 8 mantissa bits: relative error of a few 1e-2 over a deep network.
  parity::expect_close("svd folder unet (bf16, CPU)", out.to(torch::kFloat32), ref.tensor("out"), 0.15);
}

TEST(ParitySvdFolder, WrongComponentIsNamed) {
  const auto dir = std::filesystem::temp_directory_path() / "osvbench_test_svd_index";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "model_index.json") << R"({"_class_name": "StableVideoDiffusionPipeline",
    "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKLTemporalDecoder"]})";
  try {
    load_svd_folder(dir);
    FAIL() << "no exception";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("component 'unet' is a UNet2DConditionModel"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace osv
