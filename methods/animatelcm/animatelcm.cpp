#include "methods/animatelcm/animatelcm.h"

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
#include "methods/svd/edm.h"
#include "methods/svd/svd_pipeline.h"
#include "models/device.h"
#include "models/lora.h"
#include "models/safetensors.h"
#include "models/weights.h"

namespace osv {
namespace fs = std::filesystem;

bool is_temporal_parameter(const std::string& n) {
  return n.find("temporal_") != std::string::npos || n.find("time_pos_embed") != std::string::npos ||
         n.find("time_mixer") != std::string::npos;
}

namespace {

constexpr const char* kRecipeVersion = "animatelcm-2";  // the training cache key's "version"; MethodInfo::recipe

nlohmann::json animatelcm_key(const Config& c, const fs::path& svd) {
  nlohmann::json k = run_key(c, {"seed", "animatelcm.grid_n", "animatelcm.lr", "animatelcm.weight_decay",
                                       "animatelcm.strategy", "animatelcm.ema", "animatelcm.iters",
                                       "osv.cfg_wmin_choices", "osv.cfg_wmax_choices", "train.batch",
                                       "train.huber_c", "train.huber_mode", "train.huber_c_scaling", "train.lambda_power",
                                       "train.consistency_param", "edm.sigma_min", "edm.sigma_max", "edm.rho",
                                       "cond.noise_aug", "cond.fps", "cond.motion_bucket_id"},
                             svd, kRecipeVersion);
  if (c.get<std::string>("animatelcm.strategy") == "lora") k["lora"] = config_values(c, {"osv.lora_rank", "osv.lora_alpha"});
  return k;
}

template <typename T>
T pick(const std::vector<T>& v) {
  return v[static_cast<std::size_t>(torch::randint(static_cast<int64_t>(v.size()), {1}).item<int64_t>())];
}

struct AnimateLcmTask : TrainTask {
  const Config& c;
  SvdPipeline& pipe;
  const EncodedClips& data;
  UNetSpatioTemporalConditionModel student;
  // Parameter groups: one for whole/lora, spatial then temporal for decoupled.
  std::vector<std::vector<torch::Tensor>> groups;
  std::vector<std::unique_ptr<torch::optim::AdamW>> opts;
  std::vector<torch::Tensor> params, ema;  // every trained parameter and its EMA target copy
  std::vector<double> grid_asc;
  ConsistencyParam param;
  double sigma_min, mu, lambda_power;
  Huber huber;
  int64_t batch, iters;
  c10::ScalarType precision;

  AnimateLcmTask(const Config& cfg, SvdPipeline& p, const EncodedClips& d, UNetSpatioTemporalConditionModel st,
                 const std::string& strategy)
      : c(cfg), pipe(p), data(d), student(std::move(st)) {
    sigma_min = c.get<double>("edm.sigma_min");
    auto desc = karras_grid(c.get<long long>("animatelcm.grid_n"), sigma_min, c.get<double>("edm.sigma_max"),
                            c.get<double>("edm.rho"));
    grid_asc.assign(desc.rbegin(), desc.rend());
    param = parse_consistency_param(c.get<std::string>("train.consistency_param"));
    huber = huber_from_config(c, HuberMode::Elementwise);  // train_svd_lcm.py: mean(sqrt((p - t)^2 + c^2) - c)
    mu = c.get<double>("animatelcm.ema");
    lambda_power = c.get<double>("train.lambda_power");
    batch = c.get<long long>("train.batch");
    iters = c.get<long long>("animatelcm.iters");
    precision = training_precision(c);
    std::vector<torch::Tensor> spatial, temporal, all;
    for (auto& np : student->named_parameters(true)) {
      const auto& n = np.key();
      const bool lora = n.find(".lora_A.") != std::string::npos || n.find(".lora_B.") != std::string::npos;
      const bool train = strategy == "lora" ? lora : true;
      np.value().set_requires_grad(train);
      if (!train) continue;
      all.push_back(np.value());
      (is_temporal_parameter(n) ? temporal : spatial).push_back(np.value());
    }
    if (strategy == "decoupled") {
      groups = {spatial, temporal};
    } else {
      groups = {all};
    }
    for (auto& g : groups) {
      opts.push_back(std::make_unique<torch::optim::AdamW>(
          g, torch::optim::AdamWOptions(c.get<double>("animatelcm.lr")).weight_decay(c.get<double>("animatelcm.weight_decay"))));
      for (auto& t : g) params.push_back(t);
    }
    for (const auto& t : params) ema.push_back(t.detach().clone());
  }

  // decoupled: the first half of the iterations trains the spatial group, the rest the temporal.
  std::size_t active_group(int64_t step) const {
    return groups.size() == 1 ? 0 : (step < iters / 2 ? 0 : 1);
  }

  StepOutput step(int64_t step) override {
    student->train();
    // Data parallel: draws are made for the global batch, this rank keeps its B rows.
    auto idx = local_rows(torch::randint(data.latents.size(0), {batch}, torch::kInt64));  // host: the data order
    const int64_t B = idx.size(0);
    auto z0 = rows(data.latents, idx);
    auto cd = training_conditioning(pipe, data, idx);
    const int64_t N = static_cast<int64_t>(grid_asc.size());
    const int64_t n = torch::randint(N - 1, {1}).item<int64_t>();
    const double s_hi = grid_asc[static_cast<std::size_t>(n + 1)], s_lo = grid_asc[static_cast<std::size_t>(n)];
    const double wmin = pick(c.get<std::vector<double>>("osv.cfg_wmin_choices"));
    const double wmax = pick(c.get<std::vector<double>>("osv.cfg_wmax_choices"));
    auto x = z0 + s_hi * randn_rows(z0);
    const auto dev = z0.device();  // forward passes autocast to `precision`; losses and backward in fp32
    auto x_phi = autocast_forward(dev, precision, [&] {  // one Euler step of the teacher with the CFG ramp
      torch::NoGradGuard g;
      return euler_solve(conditioned_network(pipe.models().unet, cd), x, {s_hi, s_lo}, true, wmin, wmax);
    });
    auto target = autocast_forward(dev, precision, [&] {
      return with_ema_weights(params, ema, [&] {  // the target from the EMA weights
        return consistency_fn_batch(preconditioned_net(student, cd), x_phi, torch::full({B}, s_lo, z0.options()),
                                    param, sigma_min);
      });
    });
    auto p = autocast_forward(dev, precision, [&] {
      return consistency_fn_batch(preconditioned_net(student, cd), x, torch::full({B}, s_hi, z0.options()), param,
                                  sigma_min);
    });
    const double w = lambda_weight(s_lo, s_hi, lambda_power);
    auto loss = w * huber(target, p).mean();
    const auto g = active_group(step);
    StepOutput out;
    out.metrics = {{"loss", loss.item<double>()}, {"sigma", s_hi}, {"cfg_wmax", wmax},
                   {"group", static_cast<double>(g)}, {"lr", c.get<double>("animatelcm.lr")}};
    // Only the active group's optimiser steps; the EMA target follows every trained parameter.
    out.finite = generator_update(*opts[g], params, ema, mu, loss, out.metrics);
    for (auto& o : opts) o->zero_grad();
    return out;
  }
  void save(CheckpointWriter& a) override {
    a.tensors("p.", params);
    a.tensors("ema.", ema);
    for (std::size_t i = 0; i < opts.size(); ++i) a.optimizer(fmt::format("opt{}", i), *opts[i]);
  }
  void load(const CheckpointReader& a) override {
    a.tensors("p.", params);
    a.tensors("ema.", ema);
    for (std::size_t i = 0; i < opts.size(); ++i) a.optimizer(fmt::format("opt{}", i), *opts[i]);
  }
  std::map<std::string, int64_t> unet_passes() const override { return distill_unet_passes(student, pipe.models().unet); }
};

// The student (a copy of the teacher's UNet, LoRA added for the lora strategy) and its task.
std::unique_ptr<AnimateLcmTask> new_task(const Config& c, SvdPipeline& pipe, const EncodedClips& data) {
  const auto strategy = c.get<std::string>("animatelcm.strategy");
  auto student = copy_unet(pipe.models().unet);
  torch::manual_seed(static_cast<uint64_t>(c.get<long long>("seed")) + 61);
  if (strategy == "lora") add_lora(*student, student_lora_config(c));
  return std::make_unique<AnimateLcmTask>(c, pipe, data, student, strategy);
}

// animatelcm.weights: a safetensors file, or a diffusers unet/ folder holding one.
fs::path released_unet_file(const fs::path& p) {
  if (fs::is_directory(p)) {
    for (const char* name : {"diffusion_pytorch_model.safetensors", "model.safetensors"})
      if (fs::exists(p / name)) return p / name;
    throw InputError(fmt::format("animatelcm.weights: folder '{}' holds no diffusion_pytorch_model.safetensors", p.string()));
  }
  if (!fs::exists(p)) throw InputError(fmt::format("animatelcm.weights: '{}' does not exist", p.string()));
  return p;
}

// AnimateLCM's student on its own grid. `released`: weights published by AnimateLCM's authors
// (animatelcm.weights), not trained here. No CFG by default (the OSV paper removes it); with --cfg
// each call is guided (2 UNet calls), as AnimateLCM-SVD's own pipeline samples (ramp 1.0 -> 1.2 there).
std::unique_ptr<Method> make_animatelcm_method(const Config& c, std::shared_ptr<SvdPipeline> pipe,
                                               const fs::path& weights, bool released = false) {
  ConsistencyStudentSpec s;
  s.name = "animatelcm";
  s.weights_id = (released ? "released:" : "trained:") + weights.string();
  s.student = copy_unet(pipe->models().unet);
  if (released) {
    log::info("animatelcm: released weights {}", weights.string());
    load_weights(*s.student, SafetensorsCheckpoint::open(weights));
  } else if (weights.filename() == "lora.safetensors") {
    load_lora(*s.student, weights);
    merge_lora(*s.student);
  } else {
    load_weights(*s.student, SafetensorsCheckpoint::open(weights));
  }
  s.param = parse_consistency_param(c.get<std::string>("train.consistency_param"));
  s.sigma_min = c.get<double>("edm.sigma_min");
  s.precision = parse_dtype(c.get<std::string>("precision"));
  s.sigmas = [n = c.get<long long>("animatelcm.grid_n"), lo = s.sigma_min, hi = c.get<double>("edm.sigma_max"),
              rho = c.get<double>("edm.rho")](int64_t k) { return consistency_sigmas(n, k, lo, hi, rho); };
  return make_consistency_student(std::move(s));
}

}  // namespace

std::unique_ptr<TrainTask> make_animatelcm_task(const Config& c, SvdPipeline& pipe, const EncodedClips& data) {
  return new_task(c, pipe, data);
}

fs::path train_animatelcm(const Config& c, std::shared_ptr<SvdPipeline> pipe) {
  const auto key = animatelcm_key(c, pipe->models().root);
  const fs::path dir = fs::path(c.get<std::string>("run.root")) / ("animatelcm-" + digest12(key));
  const auto strategy = c.get<std::string>("animatelcm.strategy");
  const fs::path out = dir / (strategy == "lora" ? "lora.safetensors" : "unet.safetensors");
  cached_run(dir, out, key, "animatelcm", [&]() -> std::function<void()> {
    auto data = load_train_data(c, *pipe, "animatelcm");
    const auto owned = new_task(c, *pipe, data);
    auto& task = *owned;
    auto student = task.student;
    const auto s = run_training(task, train_loop_options(c, dir, "animatelcm", c.get<long long>("animatelcm.iters")));
    log::info("animatelcm: {} steps, final loss {:.4f}, {} skipped", s.total_steps, s.final_loss, s.skipped_nonfinite);
    {
      torch::NoGradGuard g;  // the final student is the EMA target
      for (std::size_t i = 0; i < task.params.size(); ++i) task.params[i].copy_(task.ema[i]);
    }
    if (writes_run_files())
      atomic_write(dir / "run.json", nlohmann::json{{"method", "animatelcm"}, {"strategy", strategy},
                                                    {"steps", s.total_steps}, {"skipped_nonfinite", s.skipped_nonfinite},
                                                    {"final_loss", s.final_loss},
                                                    {"data_parallel", data_parallel_json(c.get<long long>("train.batch"))}}
                                         .dump(2));
    return [student, strategy, out]() mutable {
      if (strategy == "lora") {
        save_lora(*student, out);
      } else {
        save_weights(*student, out, {{"trained_by", "osvbench train --method animatelcm (EMA target)"}});
      }
    };
  });
  return out;
}

void register_animatelcm(MethodRegistry& registry) {
  registry.add(MethodInfo{
      "animatelcm",
      "AnimateLCM: consistency distillation, k-step consistency sampler",
      "AnimateLCM, reference [32] of the OSV paper",
      {"consistency"},
      [](const Config& c, std::shared_ptr<SvdPipeline> pipe) -> std::unique_ptr<Method> {
        if (!pipe) throw InputError("animatelcm needs the teacher's SVD models (model.path or `osvbench prepare`)");
        if (const auto w = c.get<std::string>("animatelcm.weights"); !w.empty())
          return make_animatelcm_method(c, pipe, released_unet_file(w), true);
        return make_animatelcm_method(c, pipe, train_animatelcm(c, pipe));
      },
      {"sample.cfg=false", "sample.sampler=consistency", "sample.steps=4"},
      "none",
      [](const Config& c, std::shared_ptr<SvdPipeline> pipe, const std::string&) { return train_animatelcm(c, pipe); },
      {"all"},
      {{{"consistency", "2", "none"}}},
      {"animatelcm.iters"},
      {kRecipeVersion}});
}

}  // namespace osv
