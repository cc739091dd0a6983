// GPU checks (label `gpu`, run by scripts/gpu-build.sh on a CUDA machine; skipped elsewhere):
// the UNet and the temporal VAE in bf16 on CUDA against the same C++ models in fp32 on the CPU,
// which the parity tests tie to diffusers. Tolerance: max |diff| <= 5% of max |reference|.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>

#include "models/device.h"
#include "models/unet_svd.h"
#include "models/vae_temporal.h"

namespace osv {
namespace {

double relative_max_diff(const torch::Tensor& a, const torch::Tensor& ref) {
  return (a.to(torch::kCPU, torch::kFloat64) - ref.to(torch::kFloat64)).abs().max().item<double>() /
         ref.abs().max().item<double>();
}

TEST(GpuParity, UNetBf16OnCudaMatchesFp32OnCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(0);
  torch::NoGradGuard g;
  UNetSVDConfig c;
  c.block_out_channels = {64, 128, 128, 128};
  c.num_attention_heads = {2, 4, 4, 4};
  c.cross_attention_dim = {64, 64, 64, 64};
  c.num_frames = 8;
  UNetSpatioTemporalConditionModel m(c);
  m->eval();
  auto x = torch::randn({1, 8, 8, 32, 32}), t = torch::tensor({0.5f}), ctx = torch::randn({1, 1, 64});
  auto ids = torch::tensor({{6.0f, 127.0f, 0.02f}});
  const auto ref = m->forward(x, t, ctx, ids);
  m->to(torch::Device(torch::kCUDA), torch::kBFloat16);
  const auto out = m->forward(x.to(torch::kCUDA, torch::kBFloat16), t.to(torch::kCUDA),
                              ctx.to(torch::kCUDA, torch::kBFloat16), ids.to(torch::kCUDA));
  const double d = relative_max_diff(out, ref);
  std::printf("[gpu] unet bf16 CUDA vs fp32 CPU: max |diff| / max |ref| = %.3g (tolerance 0.05)\n", d);
  EXPECT_LE(d, 0.05);
}

TEST(GpuParity, VaeBf16OnCudaMatchesFp32OnCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(1);
  torch::NoGradGuard g;
  VaeTemporalConfig c;
  c.block_out_channels = {32, 64, 64, 64};
  AutoencoderKLTemporalDecoder m(c);
  m->eval();
  auto images = torch::rand({4, 3, 64, 64}) * 2 - 1;
  auto z = torch::randn({4, 4, 8, 8});
  const auto ref_mean = m->encode(images).mode();
  const auto ref_dec = m->decode(z, 4);
  m->to(torch::Device(torch::kCUDA), torch::kBFloat16);
  const double de = relative_max_diff(m->encode(images.to(torch::kCUDA, torch::kBFloat16)).mode(), ref_mean);
  const double dd = relative_max_diff(m->decode(z.to(torch::kCUDA, torch::kBFloat16), 4), ref_dec);
  std::printf("[gpu] vae bf16 CUDA vs fp32 CPU: encode %.3g, decode %.3g (relative, tolerance 0.05)\n", de, dd);
  EXPECT_LE(de, 0.05);
  EXPECT_LE(dd, 0.05);
}

}  // namespace
}  // namespace osv
