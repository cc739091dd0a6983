// Device placement without a GPU: every method's training step and every sampler run with their
// models and data on a second device (tests/unit/fake_device.h), where a CPU tensor mixed into a
// device computation throws as it does on CUDA. A tensor created on the host by mistake (noise
// from torch::randn(sizes), an index or a sigma built with default options, a module left on the
// host) fails these tests on a CPU-only CI machine.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "methods/animatelcm/animatelcm.h"
#include "methods/api/train_loop.h"
#include "methods/distill/consistency.h"
#include "methods/distill/student.h"
#include "methods/distill/student_method.h"
#include "methods/osv/discriminator.h"
#include "methods/osv/osv.h"
#include "methods/sfv/sfv.h"
#include "methods/svd/embedded.h"
#include "methods/svd/svd_pipeline.h"
#include "methods/teacher/teacher.h"
#include "models/device.h"
#include "common/errors.h"
#include "tests/unit/fake_device.h"
#include "tests/unit/method_world.h"

namespace osv {
namespace {

using osv::testing::fake_device;
using namespace osv::testing;

TEST(DevicePlacement, TheFakeDeviceComputesAndRefusesHostTensors) {
  const auto dev = fake_device();
  torch::manual_seed(7);
  auto host = torch::randn({3, 5});
  auto x = host.to(dev);
  osv::testing::reset_fake_device_ops();
  auto y = torch::tanh(x.matmul(x.t())).sum(1);
  EXPECT_EQ(y.device(), dev);
  EXPECT_GT(osv::testing::fake_device_ops(), 0);  // the work ran through the device, not around it
  EXPECT_TRUE(torch::allclose(y.cpu(), torch::tanh(host.matmul(host.t())).sum(1), 1e-6, 1e-6));
  // A 0-dim host tensor is a scalar (allowed, as on CUDA); anything larger is a leak.
  EXPECT_NO_THROW(x * torch::tensor(2.0));
  EXPECT_ANY_THROW(x + torch::randn({3, 5}));
  EXPECT_ANY_THROW(x.index_select(0, torch::tensor({0, 2})));
  EXPECT_NO_THROW(x.index_select(0, torch::tensor({0, 2}).to(dev)));
  // Random numbers drawn on the device come from the CPU generator: a seeded draw is the same.
  torch::manual_seed(11);
  auto a = torch::randn_like(x);
  torch::manual_seed(11);
  EXPECT_TRUE(torch::equal(a.cpu(), torch::randn_like(host)));
}

// The leak this suite exists for, planted: noise drawn with the host's default options next to
// device latents (what AnimateLCM's and OSV's steps did), and a network fed a host tensor.
TEST(DevicePlacement, APlantedLeakFailsAndItsFixPasses) {
  auto w = make_world(fake_device());
  auto z0 = w->data.latents.slice(0, 0, 2);
  EXPECT_ANY_THROW(z0 + 0.5 * torch::randn(z0.sizes()));
  EXPECT_NO_THROW(z0 + 0.5 * torch::randn_like(z0));
  auto cond = w->pipe->encode_conditioning(w->data.first_frames.slice(0, 0, 2));
  auto& unet = w->pipe->models().unet;
  EXPECT_ANY_THROW(denoise(unet, z0.cpu(), torch::full({2}, 1.0), cond));
  EXPECT_NO_THROW(denoise(unet, z0, torch::full({2}, 1.0), cond));
  // A host index into device latents (the data order is drawn on the host; rows() moves it).
  auto idx = torch::tensor({1, 0});
  EXPECT_ANY_THROW(w->data.latents.index_select(0, idx));
  EXPECT_EQ(rows(w->data.latents, idx).device(), fake_device());
}

TEST(DevicePlacement, EveryTrainingStepRunsOnTheDevice) {
  const auto dev = fake_device();
  auto w = make_world(dev, {"train.batch=2"});
  expect_runs("teacher", [&] {
    auto e = embedded_svd_config(w->c);
    torch::manual_seed(5);
    UNetSpatioTemporalConditionModel unet(e.unet);
    unet->to(dev);
    auto task = make_teacher_task(w->c, unet, w->pipe->models().vae, w->data.latents, w->data.embeds,
                                  w->data.first_frames);
    for (double l : two_steps(*task)) EXPECT_TRUE(std::isfinite(l));
    EXPECT_TRUE(all_on(unet->parameters(), dev));
  });
  for (const std::string strategy : {"whole", "decoupled", "lora"}) {
    expect_runs("animatelcm " + strategy, [&] {
      auto c = Config::resolve("tiny", {"train.batch=2", "animatelcm.strategy=" + strategy});
      auto task = make_animatelcm_task(c, *w->pipe, w->data);
      for (double l : two_steps(*task)) EXPECT_TRUE(std::isfinite(l)) << strategy;
    });
  }
  expect_runs("sfv", [&] {
    auto task = make_sfv_task(w->c, *w->pipe, w->data);
    for (double l : two_steps(*task)) EXPECT_TRUE(std::isfinite(l));
  });
  for (int stage : {1, 2}) {
    for (const std::string kind : {"upsampler", "decoder"}) {
      const auto what = "osv stage " + std::to_string(stage) + " " + kind;
      expect_runs(what, [&] {
        auto disc = tiny_disc(*w->pipe, kind);
        auto task = make_osv_stage_task(stage, w->c, *w->pipe, w->data, disc);
        for (double l : two_steps(*task)) EXPECT_TRUE(std::isfinite(l)) << what;
        EXPECT_TRUE(all_on(disc->trainable_parameters(), dev)) << what;
      });
    }
  }
}

// On the device the step computes what it computes on the CPU: the same seeds give the same losses
// (within float tolerance: the kernels may differ in their summation order), so nothing was skipped
// or drawn differently when the data moved.
TEST(DevicePlacement, AStepOnTheDeviceMatchesTheSameStepOnTheCpu) {
  std::vector<std::vector<double>> losses;
  for (const auto dev : {c10::Device(c10::kCPU), fake_device()}) {
    auto w = make_world(dev, {"train.batch=2"});
    auto task = make_osv_stage_task(2, w->c, *w->pipe, w->data, tiny_disc(*w->pipe, "upsampler"));
    losses.push_back(two_steps(*task));
  }
  for (std::size_t i = 0; i < losses[0].size(); ++i) EXPECT_NEAR(losses[1][i], losses[0][i], 1e-4 * std::abs(losses[0][i]));
}

TEST(DevicePlacement, EverySamplerRunsOnTheDevice) {
  const auto dev = fake_device();
  auto w = make_world(dev);
  auto cond = w->pipe->encode_conditioning(w->data.first_frames.slice(0, 0, 2));
  EXPECT_EQ(cond.image_latent.device(), dev);
  EXPECT_EQ(cond.added_time_ids.device(), dev);
  auto noise = torch::randn_like(w->data.latents.slice(0, 0, 2));
  const auto check = [&](Method& m, const SampleOptions& o) {
    const auto what = m.name() + " " + o.sampler + (o.cfg ? " cfg" : "");
    expect_runs(what, [&] {
      auto r = m.sample(cond, noise, o);
      EXPECT_EQ(r.latents.device(), dev) << what;
      EXPECT_TRUE(torch::isfinite(r.latents).all().item<bool>()) << what;
      auto video = w->pipe->decode(r.latents);  // decoded on the device, handed back on the host
      EXPECT_TRUE(video.device().is_cpu()) << what;
      EXPECT_EQ(video.scalar_type(), torch::kUInt8) << what;
    });
  };
  TeacherMethod teacher(w->pipe, w->c.get<double>("edm.sigma_min"), w->c.get<double>("edm.sigma_max"));
  SampleOptions o;
  o.sampler = "euler";
  o.steps = 2;
  o.cfg = true;
  o.cfg_min = 1.0f;
  o.cfg_max = 3.0f;
  check(teacher, o);
  for (auto variant : {TtsVariant::Exact, TtsVariant::Printed}) {
    ConsistencyStudentSpec s;
    s.name = "student";
    s.student = copy_unet(w->pipe->models().unet);
    s.sigmas = [](int64_t k) { return consistency_sigmas(20, k, 0.002, 700.0); };
    s.tts = variant;
    auto student = make_consistency_student(std::move(s));
    for (const std::string sampler : {"consistency", "tts"}) {
      for (bool cfg : {false, true}) {
        SampleOptions so;
        so.sampler = sampler;
        so.steps = 2;
        so.cfg = cfg;
        so.cfg_max = 2.0f;
        check(*student, so);
      }
    }
  }
}

// precision=bf16: the forward passes autocast (on the CPU here, on CUDA at paper scale); weights,
// optimiser state and losses stay fp32.
TEST(Precision, AutocastScopeCastsInsideAndRestoresAfter) {
  auto a = torch::randn({4, 4});
  EXPECT_EQ(a.mm(a).scalar_type(), torch::kFloat32);
  {
    AutocastScope outer(torch::kCPU, torch::kBFloat16);
    EXPECT_EQ(a.mm(a).scalar_type(), torch::kBFloat16);
    {
      AutocastScope fp32(torch::kCPU, torch::kFloat32);  // fp32 changes nothing, not even an enclosing scope
      EXPECT_EQ(a.mm(a).scalar_type(), torch::kBFloat16);
    }
    EXPECT_EQ(a.mm(a).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(a.mm(a).scalar_type(), torch::kFloat32);
}

TEST(Precision, DistilledMethodsTrainInBf16WithFp32WeightsAndRefuseFp16) {
  auto w = make_world(torch::kCPU, {"train.batch=2", "precision=bf16"});
  const auto fp32 = [](const std::vector<torch::Tensor>& ts) {
    for (const auto& t : ts)
      if (t.scalar_type() != torch::kFloat32) return false;
    return true;
  };
  expect_runs("animatelcm", [&] {
    auto task = make_animatelcm_task(w->c, *w->pipe, w->data);
    for (double l : two_steps(*task)) EXPECT_TRUE(std::isfinite(l));
  });
  expect_runs("sfv", [&] {
    auto task = make_sfv_task(w->c, *w->pipe, w->data);
    for (double l : two_steps(*task)) EXPECT_TRUE(std::isfinite(l));
  });
  for (int stage : {1, 2}) {
    expect_runs("osv stage " + std::to_string(stage), [&] {
      auto disc = tiny_disc(*w->pipe, "upsampler");
      auto task = make_osv_stage_task(stage, w->c, *w->pipe, w->data, disc);
      for (double l : two_steps(*task)) EXPECT_TRUE(std::isfinite(l));
      EXPECT_TRUE(fp32(disc->trainable_parameters()));
    });
  }
  EXPECT_TRUE(fp32(w->pipe->models().unet->parameters()));
  // bf16 really ran: OSV's stage-1 losses move off the fp32 ones, by bf16's precision only.
  std::vector<std::vector<double>> losses;
  for (const std::string p : {"fp32", "bf16"}) {
    auto c = Config::resolve("tiny", {"train.batch=2", "precision=" + p});
    auto task = make_osv_stage_task(1, c, *w->pipe, w->data, tiny_disc(*w->pipe, "upsampler"));
    losses.push_back(two_steps(*task));
  }
  for (std::size_t i = 0; i < losses[0].size(); ++i) {
    EXPECT_NE(losses[1][i], losses[0][i]);
    EXPECT_NEAR(losses[1][i], losses[0][i], 0.05 * std::abs(losses[0][i]));
  }
  auto c16 = Config::resolve("tiny", {"train.batch=2", "precision=fp16"});
  EXPECT_THROW(make_sfv_task(c16, *w->pipe, w->data), UsageError);
}

// A bf16 sample of the random tiny teacher against the fp32 one: the same clip within bf16's
// precision (relative L2 error measured 0.023 here; the bound leaves 2x room, and a wrong cast, e.g.
// latents rounded to bf16 between steps or a lost conditioning, moves it far more).
TEST(Precision, Bf16SamplesMatchFp32WithinBf16Precision) {
  auto w = make_world(torch::kCPU);
  auto cond = w->pipe->encode_conditioning(w->data.first_frames.slice(0, 0, 2), torch::zeros({2, 3, 32, 32}));
  torch::manual_seed(9);
  auto noise = torch::randn_like(w->data.latents.slice(0, 0, 2));
  SampleOptions o;
  o.sampler = "euler";
  o.steps = 4;
  o.cfg = true;
  o.cfg_max = 3.0f;
  const double smin = w->c.get<double>("edm.sigma_min"), smax = w->c.get<double>("edm.sigma_max");
  TeacherMethod fp32(w->pipe, smin, smax), bf16(w->pipe, smin, smax, torch::kBFloat16);
  auto a = fp32.sample(cond, noise, o).latents, b = bf16.sample(cond, noise, o).latents;
  EXPECT_EQ(b.scalar_type(), torch::kFloat32);  // the latents stay fp32 between steps
  const double rel = ((b - a).norm() / a.norm()).item<double>();
  std::printf("[precision] teacher 4-step CFG sample, bf16 vs fp32: relative L2 %.3g\n", rel);
  EXPECT_GT(rel, 0.0);  // bf16 really ran
  EXPECT_LT(rel, 0.05);
}

}  // namespace
}  // namespace osv
