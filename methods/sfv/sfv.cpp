#include "methods/sfv/sfv.h"

#include <fmt/format.h>

#include "common/atomic_file.h"
#include "common/dir_lock.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "methods/api/registry.h"
#include "methods/api/train_loop.h"
#include "methods/distill/consistency.h"
#include "methods/distill/student.h"
#include "methods/distill/student_method.h"
#include "methods/sfv/unet_disc.h"
#include "methods/svd/svd_pipeline.h"
#include "models/device.h"
#include "models/nn_util.h"
#include "models/safetensors.h"
#include "models/weights.h"

namespace osv {
namespace fs = std::filesystem;

namespace {

constexpr const char* kRecipeVersion = "sfv-2";  // the training cache key's "version"; MethodInfo::recipe

nlohmann::json sfv_key(const Config& c, const fs::path& svd) {
  return run_key(c, {"seed", "sfv.gen_grid", "sfv.disc_grid", "sfv.p_mean", "sfv.p_std",
                                       "sfv.r1_gamma", "sfv.recon_weight", "sfv.lr_g", "sfv.lr_d", "sfv.ema",
                                       "sfv.iters", "sfv.gen_levels", "sfv.g_loss", "train.batch", "train.huber_c",
                                       "train.huber_mode", "train.huber_c_scaling", "disc.hinge",
                                       "edm.sigma_min", "edm.sigma_max", "edm.rho", "cond.noise_aug", "cond.fps",
                                       "cond.motion_bucket_id"},
                 svd, kRecipeVersion);
}

}  // namespace

std::vector<double> sfv_generator_sigmas(const Config& c) {
  auto g = karras_grid(c.get<long long>("sfv.gen_grid"), c.get<double>("edm.sigma_min"), c.get<double>("edm.sigma_max"),
                       c.get<double>("edm.rho"));
  if (c.get<std::string>("sfv.gen_levels") == "top") {
    if (g.size() < 2) throw UsageError("sfv.gen_levels=top needs sfv.gen_grid >= 2 (sigma_min is left out)");
    g.pop_back();
  }
  return g;
}

std::vector<double> sfv_sampling_sigmas(const std::vector<double>& levels, int64_t k) {
  const auto n = static_cast<int64_t>(levels.size());
  if (k < 1 || k > n)
    throw UsageError(fmt::format("sfv's generator was trained at {} noise levels: 1 to {} steps, not {}", n, n, k));
  std::vector<double> s;
  for (int64_t j = 0; j < k; ++j) s.push_back(levels[static_cast<std::size_t>(j * n / k)]);
  return s;
}

namespace {

struct SfvTask : TrainTask {
  const Config& c;
  SvdPipeline& pipe;
  const EncodedClips& data;
  UNetSpatioTemporalConditionModel gen;
  UNetEncoderDiscriminator disc;
  std::vector<torch::Tensor> g_params, d_params, ema;
  std::unique_ptr<torch::optim::Adam> opt_g, opt_d;
  std::vector<double> gen_grid, disc_grid;
  double sigma_min, r1_gamma, recon_weight, p_mean, p_std, mu;
  Huber huber;
  HingeReduction hinge;
  bool linear_g;
  int64_t batch;
  c10::ScalarType precision;

  SfvTask(const Config& cfg, SvdPipeline& p, const EncodedClips& d, UNetSpatioTemporalConditionModel g,
          UNetEncoderDiscriminator ds)
      : c(cfg), pipe(p), data(d), gen(std::move(g)), disc(std::move(ds)) {
    sigma_min = c.get<double>("edm.sigma_min");
    const double smax = c.get<double>("edm.sigma_max"), rho = c.get<double>("edm.rho");
    gen_grid = sfv_generator_sigmas(c);
    disc_grid = karras_grid(c.get<long long>("sfv.disc_grid"), sigma_min, smax, rho);
    huber = huber_from_config(c, HuberMode::Whole);  // SF-V eq. 9: sqrt(||x0^ - x0||^2 + c^2) - c
    hinge = parse_hinge_reduction(c.get<std::string>("disc.hinge"));
    linear_g = c.get<std::string>("sfv.g_loss") == "linear";
    r1_gamma = c.get<double>("sfv.r1_gamma");
    recon_weight = c.get<double>("sfv.recon_weight");
    p_mean = c.get<double>("sfv.p_mean");
    p_std = c.get<double>("sfv.p_std");
    mu = c.get<double>("sfv.ema");
    batch = c.get<long long>("train.batch");
    precision = training_precision(c);
    for (auto& p : gen->parameters()) {
      p.set_requires_grad(true);
      g_params.push_back(p);
    }
    d_params = disc->trainable_parameters();
    opt_g = std::make_unique<torch::optim::Adam>(g_params, torch::optim::AdamOptions(c.get<double>("sfv.lr_g")).betas({0.5, 0.999}));
    opt_d = std::make_unique<torch::optim::Adam>(d_params, torch::optim::AdamOptions(c.get<double>("sfv.lr_d")).betas({0.5, 0.999}));
    for (const auto& p : g_params) ema.push_back(p.detach().clone());
  }

  StepOutput step(int64_t) override {
    gen->train();
    disc->train();
    // Data parallel: draws are made for the global batch, this rank keeps its rows.
    auto idx = local_rows(torch::randint(data.latents.size(0), {batch}, torch::kInt64));  // host: the data order
    auto z0 = rows(data.latents, idx);  // [B, T, C, h, w]
    auto cd = training_conditioning(pipe, data, idx);
    // Generator: one step from a noise level of the grid (SF-V eq. 5: every point but sigma_min).
    auto n = local_rows(torch::randint(static_cast<int64_t>(gen_grid.size()), {batch}, torch::kInt64));
    auto sigma = torch::tensor(gen_grid, torch::kDouble).index_select(0, n).to(z0.options());  // [B]
    auto x = z0 + sigma.view({-1, 1, 1, 1, 1}) * randn_rows(z0);
    const auto dev = z0.device();  // forward passes autocast to `precision`; losses and backward in fp32
    auto p = autocast_forward(dev, precision, [&] {
      return consistency_fn_batch(preconditioned_net(gen, cd), x, sigma, ConsistencyParam::Svd, sigma_min);
    });
    std::map<std::string, double> m;
    StepOutput out;
    m["sigma"] = sigma.mean().item<double>();
    // Discriminator: hinge on noised real vs noised fake (per logit by default), + (γ/2) E‖∇_{z0} D̄(real)‖²
    // (R1 of each clip's mean logit, taken w.r.t. the clean real latent; SF-V gives neither γ nor the point).
    {
      auto s_real = local_rows(sample_sigma_prime(disc_grid, p_mean, p_std, batch));
      auto s_fake = local_rows(sample_sigma_prime(disc_grid, p_mean, p_std, batch));
      torch::Tensor d_real, r1 = torch::zeros({}, z0.options());
      if (r1_gamma > 0) {
        MathAttentionGuard math;  // the penalty differentiates through attention twice
        auto real = z0.detach().clone().requires_grad_(true);
        d_real = autocast_forward(dev, precision, [&] { return disc->forward(noised_disc_input(real, s_real), s_real, cd); });
        auto grad = torch::autograd::grad({clip_logit(d_real).sum()}, {real}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
        r1 = grad.pow(2).flatten(1).sum(1).mean();
      } else {
        d_real = autocast_forward(dev, precision, [&] { return disc->forward(noised_disc_input(z0, s_real), s_real, cd); });
      }
      auto d_fake =
          autocast_forward(dev, precision, [&] { return disc->forward(noised_disc_input(p.detach(), s_fake), s_fake, cd); });
      auto loss_d = hinge_d_loss(d_real, d_fake, hinge) + 0.5 * r1_gamma * r1;
      m["loss_d"] = loss_d.item<double>();
      m["d_real"] = d_real.mean().item<double>();
      m["d_fake"] = d_fake.mean().item<double>();
      m["r1"] = r1.item<double>();
      out.disc_skipped = discriminator_update(*opt_d, d_params, loss_d);  // counted like a skipped generator step
    }
    // Generator: adversarial term (eq. 8: linear in D by default) + 0.1 pseudo-Huber reconstruction (eq. 9-10).
    auto s_g = local_rows(sample_sigma_prime(disc_grid, p_mean, p_std, batch));
    auto d_gen = autocast_forward(dev, precision, [&] { return disc->forward(noised_disc_input(p, s_g), s_g, cd); });
    auto adv = linear_g ? linear_g_loss(d_gen, hinge) : hinge_g_loss(d_gen, hinge);
    auto recon = huber(z0, p).mean();
    auto loss = adv + recon_weight * recon;
    m["adv_g"] = adv.item<double>();
    m["recon"] = recon.item<double>();
    m["loss"] = loss.item<double>();
    m["lr"] = c.get<double>("sfv.lr_g");
    out.finite = generator_update(*opt_g, g_params, ema, mu, loss, m);
    opt_d->zero_grad();
    out.metrics = std::move(m);
    return out;
  }
  GanState state() { return GanState{g_params, d_params, ema, *opt_g, *opt_d}; }
  void save(CheckpointWriter& a) override { state().save(a); }
  void load(const CheckpointReader& a) override { state().load(a); }
  std::map<std::string, int64_t> unet_passes() const override { return distill_unet_passes(gen, pipe.models().unet); }
};

std::unique_ptr<SfvTask> new_task(const Config& c, SvdPipeline& pipe, const EncodedClips& data) {
  auto gen = copy_unet(pipe.models().unet);
  torch::manual_seed(static_cast<uint64_t>(c.get<long long>("seed")) + 51);
  UNetEncoderDiscriminator disc(copy_unet(pipe.models().unet));
  disc->to(pipe.device());  // the heads are built on the host
  return std::make_unique<SfvTask>(c, pipe, data, gen, disc);
}

// SF-V's generator (the whole UNet, EMA), sampled at its training noise levels with the SVD
// denoiser's parameterisation it was fine-tuned in; no CFG.
std::unique_ptr<Method> make_sfv_method(const Config& c, std::shared_ptr<SvdPipeline> pipe, const fs::path& weights) {
  ConsistencyStudentSpec s;
  s.name = "sfv";
  s.weights_id = "unet:" + weights.string();
  s.student = copy_unet(pipe->models().unet);
  load_weights(*s.student, SafetensorsCheckpoint::open(weights));
  s.param = ConsistencyParam::Svd;
  s.sigma_min = c.get<double>("edm.sigma_min");
  s.sigmas = [levels = sfv_generator_sigmas(c)](int64_t k) { return sfv_sampling_sigmas(levels, k); };
  s.allow_cfg = false;
  s.precision = parse_dtype(c.get<std::string>("precision"));
  s.cfg_refusal = "sfv samples without CFG: use --cfg none";
  return make_consistency_student(std::move(s));
}

}  // namespace

std::unique_ptr<TrainTask> make_sfv_task(const Config& c, SvdPipeline& pipe, const EncodedClips& data) {
  return new_task(c, pipe, data);
}

fs::path train_sfv(const Config& c, std::shared_ptr<SvdPipeline> pipe) {
  const auto key = sfv_key(c, pipe->models().root);
  const fs::path dir = fs::path(c.get<std::string>("run.root")) / ("sfv-" + digest12(key));
  const fs::path out = dir / "unet.safetensors";
  cached_run(dir, out, key, "sfv", [&]() -> std::function<void()> {
    auto data = load_train_data(c, *pipe, "sfv");
    const auto owned = new_task(c, *pipe, data);
    auto& task = *owned;
    auto gen = task.gen;
    auto disc = task.disc;
    const auto s = run_training(task, train_loop_options(c, dir, "sfv", c.get<long long>("sfv.iters")));
    log::info("sfv: {} steps, final loss {:.4f}, {} skipped", s.total_steps, s.final_loss, s.skipped_nonfinite);
    {
      torch::NoGradGuard g;  // the final generator is the EMA
      for (std::size_t i = 0; i < task.g_params.size(); ++i) task.g_params[i].copy_(task.ema[i]);
    }
    std::vector<std::pair<std::string, torch::Tensor>> heads;
    auto dp = disc->trainable_parameters();
    for (std::size_t i = 0; i < dp.size(); ++i) heads.emplace_back(fmt::format("trainable.{}", i), dp[i].detach().cpu());
    if (writes_run_files()) {
      save_safetensors(dir / "disc.safetensors", heads, {{"what", "SF-V discriminator heads, in order"}});
      atomic_write(dir / "run.json", nlohmann::json{{"method", "sfv"}, {"steps", s.total_steps},
                                                    {"skipped_nonfinite", s.skipped_nonfinite}, {"final_loss", s.final_loss},
                                                    {"optimizer", "Adam(0.5, 0.999); the paper used SM3"},
                                                    {"data_parallel", data_parallel_json(c.get<long long>("train.batch"))}}
                                         .dump(2));
    }
    return [gen, out]() mutable {
      save_weights(*gen, out, {{"trained_by", "osvbench train --method sfv (EMA generator)"}});
    };
  });
  return out;
}

void register_sfv(MethodRegistry& registry) {
  registry.add(MethodInfo{
      "sfv",
      "SF-V: single-step adversarial fine-tuning with a UNet-encoder discriminator",
      "SF-V, reference [38] of the OSV paper (re-implemented there too); optimiser Adam, not the paper's SM3",
      {"consistency"},
      [](const Config& c, std::shared_ptr<SvdPipeline> pipe) -> std::unique_ptr<Method> {
        if (!pipe) throw InputError("sfv needs the teacher's SVD models (model.path or `osvbench prepare`)");
        return make_sfv_method(c, pipe, train_sfv(c, pipe));
      },
      {"sample.cfg=false", "sample.sampler=consistency", "sample.steps=1"},
      "none",
      [](const Config& c, std::shared_ptr<SvdPipeline> pipe, const std::string&) { return train_sfv(c, pipe); },
      {"all"},
      {{{"consistency", "1", "none"}}},
      {"sfv.iters"},
      {kRecipeVersion}});
}

}  // namespace osv
