// LoRA export for diffusers: adapts the reference tiny UNet, saves the adapter in the PEFT/
// diffusers format and the C++ merged output; tests/parity/check_lora.py then loads the adapter
// into diffusers and compares (ctest runs it after this test).
#include "models/lora.h"
#include "models/unet_svd.h"
#include "tests/parity/parity_util.h"

namespace osv {
namespace {

TEST(ParityLora, ExportForDiffusers) {
  torch::manual_seed(5);
  torch::NoGradGuard g;
  auto m = load_unet_svd(parity::dir() / "unet");
  const auto names = add_lora(*m, LoraConfig{4, 8.0,
                                             {R"(attn[12]\.to_(q|k|v)$)", R"(attn[12]\.to_out\.0$)",
                                              R"(ff\.net\.(0\.proj|2)$)", R"(spatial_res_block\.conv[12]$)",
                                              R"(temporal_res_block\.conv[12]$)", R"(proj_(in|out)$)"}});
  std::printf("[parity] LoRA on %zu layers\n", names.size());
  for (auto& p : m->named_parameters())
    if (p.key().find(".lora_") != std::string::npos) p.value().normal_(0.0, 0.05);
  save_lora(*m, parity::dir() / "lora_cpp.safetensors");
  const auto ref = parity::io("unet");
  auto unmerged = m->forward(ref.tensor("sample"), ref.tensor("timestep"), ref.tensor("encoder_hidden_states"),
                             ref.tensor("added_time_ids"));
  merge_lora(*m);
  auto merged = m->forward(ref.tensor("sample"), ref.tensor("timestep"), ref.tensor("encoder_hidden_states"),
                           ref.tensor("added_time_ids"));
  parity::expect_close("lora merged vs unmerged (C++)", merged, unmerged, 1e-4);
  EXPECT_GT((merged - ref.tensor("out")).abs().max().item<double>(), 1e-3) << "the adapter changes nothing";
  save_safetensors(parity::dir() / "lora_cpp_out.safetensors", {{"out", merged}});
}

}  // namespace
}  // namespace osv
