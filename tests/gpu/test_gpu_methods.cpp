// GPU checks of every method (label `gpu`; skipped without a CUDA device): each trains two steps
// and samples a clip on CUDA, in fp32 and in bf16, at the tiny preset's shape and at SVD's latent
// shape (14 frames, latents 72x128; the tiny preset's narrow random networks, so the check fits a
// few seconds) — finite losses, weights kept fp32 and on the device, latents finite. The CPU side
// of the same code runs in unit on the fake device (tests/unit/test_device_placement.cpp).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "common/config.h"
#include "methods/animatelcm/animatelcm.h"
#include "methods/api/optim.h"
#include "methods/distill/consistency.h"
#include "methods/distill/student.h"
#include "methods/distill/student_method.h"
#include "methods/osv/osv.h"
#include "methods/sfv/sfv.h"
#include "methods/teacher/teacher.h"
#include "models/device.h"
#include "tests/unit/method_world.h"

namespace osv {
namespace {

using namespace osv::testing;

struct Shape {
  std::string name;
  std::vector<std::string> overrides;
};

std::vector<Shape> shapes() {
  // The tiny embedded VAE downsamples 4x: 288x512 pixels are SVD's 72x128 latents.
  return {{"tiny", {}}, {"svd-latents", {"data.frames=14", "data.height=288", "data.width=512"}}};
}

void train_and_sample(const Shape& shape, const std::string& precision) {
  const c10::Device dev(torch::kCUDA);
  auto overrides = shape.overrides;
  overrides.push_back("train.batch=1");
  overrides.push_back("precision=" + precision);
  auto w = make_world(dev, overrides, 2);
  const auto t0 = std::chrono::steady_clock::now();
  const auto label = [&](const std::string& m) { return m + " " + shape.name + " " + precision; };
  expect_runs(label("teacher"), [&] {  // the teacher's own EDM training step (fp32: the embedded builder's)
    torch::manual_seed(5);
    UNetSpatioTemporalConditionModel unet(embedded_svd_config(w->c).unet);
    unet->to(dev);
    auto task = make_teacher_task(w->c, unet, w->pipe->models().vae, w->data.latents, w->data.embeds,
                                  w->data.first_frames);
    for (double l : two_steps(*task)) EXPECT_TRUE(std::isfinite(l)) << label("teacher");
  });
  expect_runs(label("animatelcm"), [&] {
    auto task = make_animatelcm_task(w->c, *w->pipe, w->data);
    for (double l : two_steps(*task)) EXPECT_TRUE(std::isfinite(l)) << label("animatelcm");
  });
  expect_runs(label("sfv"), [&] {
    auto task = make_sfv_task(w->c, *w->pipe, w->data);
    for (double l : two_steps(*task)) EXPECT_TRUE(std::isfinite(l)) << label("sfv");
  });
  for (int stage : {1, 2}) {
    const auto what = label("osv stage " + std::to_string(stage));
    expect_runs(what, [&] {
      auto disc = tiny_disc(*w->pipe, "upsampler");
      auto task = make_osv_stage_task(stage, w->c, *w->pipe, w->data, disc);
      for (double l : two_steps(*task)) EXPECT_TRUE(std::isfinite(l)) << what;
      EXPECT_TRUE(all_on(disc->trainable_parameters(), dev)) << what;
    });
  }
  for (const auto& p : w->pipe->models().unet->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat32);
    EXPECT_EQ(p.device().type(), torch::kCUDA);
  }
  const auto ps = parse_dtype(precision);
  auto cond = w->pipe->encode_conditioning(w->data.first_frames.slice(0, 0, 1));
  auto noise = torch::randn_like(w->data.latents.slice(0, 0, 1));
  TeacherMethod teacher(w->pipe, w->c.get<double>("edm.sigma_min"), w->c.get<double>("edm.sigma_max"), ps);
  ConsistencyStudentSpec s;
  s.name = "student";
  s.student = copy_unet(w->pipe->models().unet);
  s.sigmas = [](int64_t k) { return consistency_sigmas(20, k, 0.002, 700.0); };
  s.tts = TtsVariant::Exact;
  s.precision = ps;
  auto student = make_consistency_student(std::move(s));
  for (const auto& [m, sampler, cfg] : std::vector<std::tuple<Method*, std::string, bool>>{
           {&teacher, "euler", true}, {student.get(), "consistency", false}, {student.get(), "tts", false}}) {
    const auto what = label(m->name() + " " + sampler);
    expect_runs(what, [&] {
      SampleOptions o;
      o.sampler = sampler;
      o.steps = 2;
      o.cfg = cfg;
      o.cfg_max = 3.0f;
      auto r = m->sample(cond, noise, o);
      EXPECT_EQ(r.latents.device().type(), torch::kCUDA) << what;
      EXPECT_TRUE(torch::isfinite(r.latents).all().item<bool>()) << what;
      EXPECT_EQ(w->pipe->decode(r.latents).scalar_type(), torch::kUInt8) << what;
    });
  }
  std::printf("[gpu] methods %s %s: 5 trainings x 2 steps + 3 samplers in %.1f s\n", shape.name.c_str(),
              precision.c_str(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

// The fused optimiser tail on CUDA (its step counts on the device, one CUDA kernel per group)
// against torch::optim::Adam on the CPU: 5 steps of the same gradients, lr 1e-2.
TEST(GpuMethods, FusedAdamOnCudaFollowsTheStockCpuStep) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(0);
  std::vector<torch::Tensor> cpu, gpu;
  for (const auto& shape : std::vector<std::vector<int64_t>>{{64, 32, 3, 3}, {257}, {1}}) {
    cpu.push_back(torch::randn(shape).requires_grad_(true));
    gpu.push_back(cpu.back().detach().to(torch::kCUDA).requires_grad_(true));
  }
  torch::optim::Adam a(cpu, torch::optim::AdamOptions(1e-2).weight_decay(0.01));
  torch::optim::Adam b(gpu, torch::optim::AdamOptions(1e-2).weight_decay(0.01));
  for (int s = 0; s < 5; ++s) {
    for (std::size_t i = 0; i < cpu.size(); ++i) {
      cpu[i].mutable_grad() = torch::randn(cpu[i].sizes());
      gpu[i].mutable_grad() = cpu[i].grad().to(torch::kCUDA);
    }
    const auto norm = grad_norm_tensor(gpu);
    EXPECT_EQ(norm.device().type(), torch::kCUDA);
    a.step();
    adam_step(b);
  }
  for (std::size_t i = 0; i < cpu.size(); ++i)
    EXPECT_LT((cpu[i].detach() - gpu[i].detach().cpu()).abs().max().item<double>(), 1e-5) << i;
}

TEST(GpuMethods, EveryMethodTrainsAndSamplesOnCudaInFp32AndBf16) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  for (const auto& shape : shapes())
    for (const std::string precision : {"fp32", "bf16"}) train_and_sample(shape, precision);
}

}  // namespace
}  // namespace osv
