// LoRA on the SVD UNet: adapters change the output only through lora_B, merge equals the
// unmerged forward, unmerge restores the base weights, save/load round-trips, base frozen.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "models/lora.h"
#include "models/safetensors.h"
#include "models/unet_svd.h"
#include "models/weights.h"
#include "tests/unit/tiny_unet.h"

namespace osv {
namespace {

UNetSVDConfig tiny() {  // the shared tiny UNet, a wider second block and two heads
  UNetSVDConfig c = testing::tiny_unet_config(3);
  c.sample_size = UNetSVDConfig{}.sample_size;
  c.block_out_channels = {32, 64};
  c.num_attention_heads = {2, 2};
  c.addition_time_embed_dim = 4;
  c.projection_class_embeddings_input_dim = 12;
  return c;
}

struct Inputs {
  torch::Tensor x = torch::randn({1, 3, 8, 8, 8});
  torch::Tensor t = torch::tensor({0.3f});
  torch::Tensor ctx = torch::randn({1, 1, 16});
  torch::Tensor ids = torch::tensor({{6.0f, 127.0f, 0.02f}});
};

LoraConfig attn_and_conv(int64_t rank) {
  return LoraConfig{rank, 2.0 * rank, {R"(attn[12]\.to_(q|k|v)$)", R"(attn[12]\.to_out\.0$)", R"(resnets\.\d+\.spatial_res_block\.conv[12]$)"}};
}

TEST(Lora, AdaptsMatchingLayersAndFreezesTheBase) {
  torch::manual_seed(0);
  UNetSpatioTemporalConditionModel m(tiny());
  const auto names = add_lora(*m, attn_and_conv(4));
  EXPECT_FALSE(names.empty());
  for (const auto& n : names) EXPECT_TRUE(n.find("to_") != std::string::npos || n.find("conv") != std::string::npos) << n;
  for (const auto& p : m->named_parameters()) {
    const bool is_lora = p.key().find(".lora_A.") != std::string::npos || p.key().find(".lora_B.") != std::string::npos;
    EXPECT_EQ(p.value().requires_grad(), is_lora) << p.key();
  }
  EXPECT_THROW(add_lora(*m, LoraConfig{4, 4, {"no_such_layer"}}), std::invalid_argument);
  EXPECT_THROW(add_lora(*m, attn_and_conv(4)), std::invalid_argument);  // adapted twice
}

TEST(Lora, ZeroInitialisedBKeepsTheOutputMergeMatchesUnmergeRestores) {
  torch::manual_seed(1);
  torch::NoGradGuard g;
  UNetSpatioTemporalConditionModel m(tiny());
  m->eval();
  Inputs in;
  const auto base_out = m->forward(in.x, in.t, in.ctx, in.ids);
  const double rerun = (m->forward(in.x, in.t, in.ctx, in.ids) - base_out).abs().max().item<double>();
  std::printf("[lora] base forward run twice: max |diff| = %.3g\n", rerun);
  std::map<std::string, torch::Tensor> base_weights;
  for (const auto& p : m->named_parameters()) base_weights[p.key()] = p.value().clone();

  add_lora(*m, attn_and_conv(4));
  const double zero_b = (m->forward(in.x, in.t, in.ctx, in.ids) - base_out).abs().max().item<double>();
  std::printf("[lora] zero-initialised adapters vs base: max |diff| = %.3g\n", zero_b);
  EXPECT_LE(zero_b, std::max(1e-5, 10 * rerun));  // B = 0: the base path up to CPU kernel nondeterminism
  for (auto& p : m->named_parameters())
    if (p.key().find(".lora_B.") != std::string::npos) p.value().normal_(0.0, 0.1);
  const auto lora_out = m->forward(in.x, in.t, in.ctx, in.ids);
  const double changed = (lora_out - base_out).abs().max().item<double>();
  std::printf("[lora] output change from the adapters: %.3g\n", changed);
  EXPECT_GT(changed, 1e-3);

  merge_lora(*m);
  EXPECT_TRUE(lora_merged(*m));
  const double merged_diff = (m->forward(in.x, in.t, in.ctx, in.ids) - lora_out).abs().max().item<double>();
  std::printf("[lora] merged vs unmerged output: max |diff| = %.3g\n", merged_diff);
  EXPECT_LT(merged_diff, 1e-4);

  unmerge_lora(*m);
  double worst = 0;
  for (const auto& [name, w] : base_weights)
    worst = std::max(worst, (m->named_parameters()[name] - w).abs().max().item<double>());
  std::printf("[lora] merge + unmerge vs original weights: max |diff| = %.3g\n", worst);
  EXPECT_LE(worst, 1e-6);
}

TEST(Lora, SaveAndLoadInThePeftFormat) {
  torch::manual_seed(2);
  torch::NoGradGuard g;
  const auto dir = std::filesystem::temp_directory_path() / "osvbench_test_lora";
  std::filesystem::create_directories(dir);
  UNetSpatioTemporalConditionModel a(tiny()), b(tiny());
  save_weights(*a, dir / "base.safetensors");
  load_weights(*b, SafetensorsCheckpoint::open(dir / "base.safetensors"));
  add_lora(*a, attn_and_conv(3));
  for (auto& p : a->named_parameters())
    if (p.key().find(".lora_") != std::string::npos) p.value().normal_(0.0, 0.1);
  save_lora(*a, dir / "lora.safetensors");
  auto f = SafetensorsFile::open(dir / "lora.safetensors");
  EXPECT_TRUE(f.contains("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight"));
  EXPECT_TRUE(f.contains("unet.down_blocks.0.resnets.0.spatial_res_block.conv1.lora_B.weight"));
  EXPECT_NE(f.metadata().at("lora_adapter_metadata").find("\"unet.lora_alpha\":6.0"), std::string::npos);
  const auto loaded = load_lora(*b, dir / "lora.safetensors");
  EXPECT_EQ(loaded.size() * 2, f.entries().size());
  Inputs in;
  a->eval();
  b->eval();
  EXPECT_TRUE(torch::allclose(a->forward(in.x, in.t, in.ctx, in.ids), b->forward(in.x, in.t, in.ctx, in.ids)));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace osv
