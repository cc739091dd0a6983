#include "methods/osv/osv.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <ATen/CPUGeneratorImpl.h>

#include <regex>
#include <set>

#include "common/atomic_file.h"
#include "common/dir_lock.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/sha256.h"
#include "datasets/clip_set.h"
#include "methods/api/registry.h"
#include "methods/api/train_loop.h"
#include "methods/distill/consistency.h"
#include "methods/osv/discriminator.h"
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

namespace {

// The recipe versions of the two stages (their cache keys' "version"; MethodInfo::recipe).
// 4: the discriminator's local batch norm groups one clip. 5: the CLS token is added at the taps
// by default (disc.cls_token: rows keyed by key sets recorded before the key existed would
// otherwise still match).
constexpr const char* kStage1Version = "osv-stage1-5";
constexpr const char* kStage2Version = "osv-stage2-5";

// The resolution knobs, under their config names (check_stage_reads matches those). The fraction
// is read only by low_then_high, and enters the key only then.
void add_resolution(nlohmann::json& k, const Config& c, int stage) {
  const char* key = stage == 1 ? "osv.stage1_resolution" : "osv.stage2_resolution";
  const auto r = c.get<std::string>(key);
  k[key] = r;
  if (r == "low_then_high") k["osv.stage2_highres_fraction"] = c.get<double>("osv.stage2_highres_fraction");
}

// The discriminator's Adam: disc.lr and disc.adam_betas (ledger D10).
torch::optim::AdamOptions disc_adam_options(const Config& c) {
  const auto b = c.get<std::vector<double>>("disc.adam_betas");
  if (b.size() != 2 || !(b[0] >= 0.0 && b[0] < 1.0) || !(b[1] >= 0.0 && b[1] < 1.0))
    throw UsageError(fmt::format("disc.adam_betas needs two numbers in [0, 1) (beta1,beta2), got [{}]",
                                 fmt::join(b, ", ")));
  return torch::optim::AdamOptions(c.get<double>("disc.lr")).betas({b[0], b[1]});
}

// Everything stage 1 depends on.
nlohmann::json stage1_key(const Config& c, const fs::path& svd) {
  auto k = run_key(c, {"seed", "osv.lora_rank", "osv.lora_alpha", "osv.lambda_lgp", "osv.stage1",
                              "osv.stage1_iters", "osv.lr", "disc.kind", "disc.upsample_r", "disc.input_size",
                              "disc.taps", "disc.taps_depth", "disc.tap_patch_embed", "disc.head_blocks", "disc.cls_token", "disc.backbone_path", "disc.backbone_pretrain_iters", "disc.backbone_pretrain_lr",
                              "disc.backbone_pretrain_batch", "disc.backbone_pretrain_frames",
                              "disc.backbone_pretrain_mask", "disc.lr", "disc.adam_betas", "train.grid_n",
                              "train.huber_c", "train.huber_mode", "train.huber_c_scaling", "train.consistency_param",
                              "train.batch", "disc.hinge", "osv.adversarial_stage1",
                              "edm.sigma_min", "edm.sigma_max", "edm.rho", "cond.noise_aug", "cond.fps",
                              "cond.motion_bucket_id", "model.embedded"},
                 svd, kStage1Version);
  k["backbone_version"] = embedded_backbone_version();
  add_resolution(k, c, 1);
  return k;
}

nlohmann::json stage2_key(const Config& c, const fs::path& svd) {
  nlohmann::json k = config_values(c, {"osv.solver_steps", "osv.ema", "osv.lambda_acd", "osv.cfg_wmin_choices",
                              "osv.cfg_wmax_choices", "osv.extra_trainable", "osv.stage2", "osv.stage2_iters",
                              "osv.adversarial", "train.lambda_power"});
  k["stage1"] = c.get<bool>("osv.stage1") ? digest12(stage1_key(c, svd)) : "none";
  k["stage1_key"] = stage1_key(c, svd);  // stage 2 without stage 1 still depends on the shared knobs
  k["version"] = kStage2Version;
  add_resolution(k, c, 2);
  return k;
}

void save_disc(LatentDiscriminator& d, const fs::path& path) {
  std::vector<std::pair<std::string, torch::Tensor>> named;
  auto ps = d->trainable_parameters();
  for (std::size_t i = 0; i < ps.size(); ++i) named.emplace_back(fmt::format("trainable.{}", i), ps[i].detach().cpu());
  auto bs = d->state_buffers();
  for (std::size_t i = 0; i < bs.size(); ++i) named.emplace_back(fmt::format("buffer.{}", i), bs[i].detach().cpu());
  save_safetensors(path, named, {{"what", "OSV latent discriminator: trainable parameters, then the heads' state buffers, in order"}});
}
void load_disc(LatentDiscriminator& d, const fs::path& path) {
  auto ck = SafetensorsCheckpoint::open(path);
  auto ps = d->trainable_parameters();
  torch::NoGradGuard g;
  for (std::size_t i = 0; i < ps.size(); ++i) ps[i].copy_(ck.tensor(fmt::format("trainable.{}", i)));
  auto bs = d->state_buffers();
  for (std::size_t i = 0; i < bs.size(); ++i) bs[i].copy_(ck.tensor(fmt::format("buffer.{}", i)));
}

// The training set at the preset's frame size and at half of it, each encoded on first use.
struct TrainSets {
  const Config& c;
  SvdPipeline& pipe;
  std::unique_ptr<EncodedClips> high, low;
  const EncodedClips& get(bool half) {
    auto& d = half ? low : high;
    if (!d) d = std::make_unique<EncodedClips>(load_train_data(c, pipe, "osv", half));
    return *d;
  }
};

// Whether step `step` (0-based) of `iters` trains on the half-size set (Table 2g/2h knobs).
bool low_resolution_step(const Config& c, int stage, int64_t step, int64_t iters) {
  const auto r = c.get<std::string>(stage == 1 ? "osv.stage1_resolution" : "osv.stage2_resolution");
  if (r != "low_then_high") return r == "low";
  const auto high_steps = static_cast<int64_t>(std::llround(c.get<double>("osv.stage2_highres_fraction") *
                                                            static_cast<double>(iters)));
  return step < iters - high_steps;
}

// One OSV training stage (1 = LGP, 2 = ACD).
struct OsvStageTask : TrainTask {
  int stage;
  const Config& c;
  SvdPipeline& pipe;
  TrainSets& sets;
  const EncodedClips& data;  // the preset's size: the probe's clips
  int64_t iters;
  UNetSpatioTemporalConditionModel student;
  LatentDiscriminator disc;
  std::vector<torch::Tensor> g_params, d_params, ema, d_state;
  std::unique_ptr<torch::optim::Adam> opt_g, opt_d;
  std::vector<double> grid_desc, grid_asc;
  ConsistencyParam param;
  double sigma_min;
  Huber huber;
  HingeReduction hinge;
  int64_t batch;
  c10::ScalarType precision;

  OsvStageTask(int s, const Config& cfg, SvdPipeline& p, TrainSets& ts, UNetSpatioTemporalConditionModel st,
               LatentDiscriminator ds)
      : stage(s), c(cfg), pipe(p), sets(ts), data(ts.get(false)), student(std::move(st)), disc(std::move(ds)) {
    iters = c.get<long long>(stage == 1 ? "osv.stage1_iters" : "osv.stage2_iters");
    sigma_min = c.get<double>("edm.sigma_min");
    grid_desc = karras_grid(c.get<long long>("train.grid_n"), sigma_min, c.get<double>("edm.sigma_max"),
                            c.get<double>("edm.rho"));
    grid_asc.assign(grid_desc.rbegin(), grid_desc.rend());
    param = parse_consistency_param(c.get<std::string>("train.consistency_param"));
    huber = huber_from_config(c, HuberMode::Whole);  // the paper's d(x, y) over the whole sample
    hinge = parse_hinge_reduction(c.get<std::string>("disc.hinge"));
    batch = c.get<long long>("train.batch");
    precision = training_precision(c);
    const auto names = osv_trainable_names(*student, stage,
                                           stage == 2 ? c.get<std::vector<std::string>>("osv.extra_trainable")
                                                      : std::vector<std::string>{});
    const std::set<std::string> chosen(names.begin(), names.end());
    for (auto& np : student->named_parameters(true)) {
      const bool train = chosen.count(np.key()) > 0;
      np.value().set_requires_grad(train);
      if (train) g_params.push_back(np.value());
    }
    d_params = disc->trainable_parameters();
    d_state = disc->state_buffers();
    const double lr = c.get<double>("osv.lr");
    opt_g = std::make_unique<torch::optim::Adam>(g_params, torch::optim::AdamOptions(lr));
    opt_d = std::make_unique<torch::optim::Adam>(d_params, disc_adam_options(c));
    for (const auto& p : g_params) ema.push_back(p.detach().clone());
    // A fixed probe (first clips, noise of its own generator): the student's reconstruction of real
    // latents at three fixed noise levels, logged every checkpoint interval as probe_recon.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c.get<long long>("seed")) + 4242);
    const int64_t nb = std::min<int64_t>(4, data.latents.size(0));
    probe_idx = torch::arange(nb);
    probe_z0 = data.latents.slice(0, 0, nb);
    probe_eps = torch::randn(probe_z0.sizes(), gen).to(probe_z0.device());  // drawn once, on the host
    {
      torch::NoGradGuard g;
      const auto& co = pipe.conditioning_options();
      auto img = to_unit_range(data.first_frames.slice(0, 0, nb));
      img = (img + co.noise_aug * torch::randn(img.sizes(), gen)).to(pipe.device());
      probe_cond.image_latent = pipe.models().vae->encode(img).mode();
      probe_cond.image_embeds = data.embeds.slice(0, 0, nb);
      probe_cond.added_time_ids = added_time_ids(co, nb, probe_z0.options());
    }
    const auto n = grid_desc.size();
    probe_sigmas = {grid_desc[n / 4], grid_desc[n / 2], grid_desc[3 * n / 4]};
    probe_every = c.get<long long>("run.checkpoint_every");
  }
  torch::Tensor probe_idx, probe_z0, probe_eps;
  Conditioning probe_cond;
  std::vector<double> probe_sigmas;
  int64_t probe_every = 100;
  int64_t probe_passes = 0;  // the probe's student passes: a diagnostic, not training cost

  double probe_recon() {
    torch::NoGradGuard g;
    const int64_t before = student->clip_passes();
    student->eval();
    double total = 0;
    for (double s : probe_sigmas) {
      auto sig = torch::full({probe_z0.size(0)}, s, probe_z0.options());
      auto p = consistency_fn_batch(net(student, probe_cond), probe_z0 + s * probe_eps, sig, param, sigma_min);
      total += huber(probe_z0, p).mean().item<double>();
    }
    student->train();
    probe_passes += student->clip_passes() - before;
    return total / static_cast<double>(probe_sigmas.size());
  }

  BatchNet net(UNetSpatioTemporalConditionModel& u, const Conditioning& cd) { return preconditioned_net(u, cd); }

  // The teacher's m Euler steps with the CFG ramp from grid_asc[hi] down to grid_asc[lo]. No grad.
  torch::Tensor teacher_solve(const torch::Tensor& x, int64_t hi, int64_t lo, const Conditioning& cd, double wmin,
                              double wmax) {
    torch::NoGradGuard g;
    std::vector<double> sig;
    for (int64_t j = hi; j >= lo; --j) sig.push_back(grid_asc[static_cast<std::size_t>(j)]);
    return euler_solve(conditioned_network(pipe.models().unet, cd), x, sig, true, wmin, wmax);
  }

  StepOutput step(int64_t step) override {
    student->train();
    disc->train();
    const bool low = low_resolution_step(c, stage, step, iters);
    const EncodedClips& d = sets.get(low);
    // Data parallel: draws are made for the global batch (train.batch rows), this rank keeps its B rows.
    auto idx = local_rows(torch::randint(d.latents.size(0), {batch}, torch::kInt64));  // host: the data order
    const int64_t B = idx.size(0);
    auto z0 = rows(d.latents, idx);  // [B, T, C, h, w]
    auto cd = training_conditioning(pipe, d, idx);
    torch::Tensor p, target, weight;
    const auto dev = z0.device();  // forward passes autocast to `precision`; losses and backward in fp32
    std::map<std::string, double> m;
    const bool adversarial = c.get<bool>(stage == 1 ? "osv.adversarial_stage1" : "osv.adversarial");
    double lambda_adv = stage == 1 ? c.get<double>("osv.lambda_lgp") : c.get<double>("osv.lambda_acd");
    if (stage == 1) {
      auto n = local_rows(torch::randint(static_cast<int64_t>(grid_desc.size()), {batch}, torch::kInt64));
      auto sigma = torch::tensor(grid_desc, torch::kDouble).index_select(0, n).to(z0.options());  // [B]
      auto x = z0 + sigma.view({-1, 1, 1, 1, 1}) * randn_rows(z0);
      p = autocast_forward(dev, precision, [&] { return consistency_fn_batch(net(student, cd), x, sigma, param, sigma_min); });
      target = z0;
      weight = torch::ones({B}, z0.options());
      m["sigma"] = sigma.mean().item<double>();
    } else {
      const int64_t msteps = c.get<long long>("osv.solver_steps");
      const int64_t N = static_cast<int64_t>(grid_asc.size());
      const int64_t n = torch::randint(N - msteps, {1}).item<int64_t>();
      const auto wmins = c.get<std::vector<double>>("osv.cfg_wmin_choices");
      const auto wmaxs = c.get<std::vector<double>>("osv.cfg_wmax_choices");
      const double wmin = wmins[static_cast<std::size_t>(torch::randint(static_cast<int64_t>(wmins.size()), {1}).item<int64_t>())];
      const double wmax = wmaxs[static_cast<std::size_t>(torch::randint(static_cast<int64_t>(wmaxs.size()), {1}).item<int64_t>())];
      const double s_hi = grid_asc[static_cast<std::size_t>(n + msteps)], s_lo = grid_asc[static_cast<std::size_t>(n)];
      auto x = z0 + s_hi * randn_rows(z0);
      auto x_phi = autocast_forward(dev, precision, [&] { return teacher_solve(x, n + msteps, n, cd, wmin, wmax); });
      target = autocast_forward(dev, precision, [&] {
        return with_ema_weights(g_params, ema, [&] {  // the target from the EMA weights
          return consistency_fn_batch(net(student, cd), x_phi, torch::full({B}, s_lo, z0.options()), param, sigma_min);
        });
      });
      p = autocast_forward(dev, precision, [&] {
        return consistency_fn_batch(net(student, cd), x, torch::full({B}, s_hi, z0.options()), param, sigma_min);
      });
      weight = torch::full({B}, lambda_weight(s_lo, grid_asc[static_cast<std::size_t>(n + 1)],
                                                  c.get<double>("train.lambda_power")),
                           z0.options());
      m["sigma"] = s_hi;
      m["cfg_wmax"] = wmax;
    }
    m["height"] = static_cast<double>(d.first_frames.size(2));
    StepOutput out;
    if (step % probe_every == 0) m["probe_recon"] = probe_recon();
    // Discriminator step: real (stage 1) or teacher-solved target (stage 2) vs the prediction.
    if (adversarial) {
      auto d_real = autocast_forward(dev, precision, [&] { return disc->forward(target.detach()); });
      auto d_fake = autocast_forward(dev, precision, [&] { return disc->forward(p.detach()); });
      auto loss_d = hinge_d_loss(d_real, d_fake, hinge);
      m["loss_d"] = loss_d.item<double>();
      m["d_real"] = d_real.mean().item<double>();
      m["d_fake"] = d_fake.mean().item<double>();
      out.disc_skipped = discriminator_update(*opt_d, d_params, loss_d);  // counted like a skipped generator step
    }
    auto recon = (weight.to(p.options()) * huber(target.detach(), p)).mean();
    auto loss_g = recon;
    if (adversarial) {
      auto d_gen = autocast_forward(dev, precision, [&] { return disc->forward(p); });
      auto adv = hinge_g_loss(d_gen, hinge);  // eq. 7/12: ReLU(1 - D), per logit
      m["adv_g"] = adv.item<double>();
      loss_g = loss_g + lambda_adv * adv;
    }
    m["recon"] = recon.item<double>();
    m["loss"] = loss_g.item<double>();
    m["lr"] = c.get<double>("osv.lr");
    out.finite = generator_update(*opt_g, g_params, ema, stage == 2 ? c.get<double>("osv.ema") : 0.0, loss_g, m);
    opt_d->zero_grad();  // the generator's backward also reached the discriminator's parameters
    out.metrics = std::move(m);
    return out;
  }
  GanState state() { return GanState{g_params, d_params, ema, *opt_g, *opt_d, &d_state}; }
  void save(CheckpointWriter& a) override { state().save(a); }
  void load(const CheckpointReader& a) override { state().load(a); }
  // The probe's passes are logged apart (probe_passes) and left out of the student's training cost.
  std::map<std::string, int64_t> unet_passes() const override {
    auto p = distill_unet_passes(student, pipe.models().unet);
    p["student_passes"] -= probe_passes;
    p["probe_passes"] = probe_passes;
    return p;
  }
};

Dinov2Model load_backbone(const Config& c) {
  const auto p = c.get<std::string>("disc.backbone_path");
  return load_dinov2(p.empty() ? ensure_embedded_backbone(c) : fs::path(p));
}

LatentDiscriminator make_disc(const Config& c, SvdPipeline& pipe) {
  LatentDiscriminatorOptions o;
  o.kind = c.get<std::string>("disc.kind");
  if (o.kind == "unet_encoder")
    throw NotImplementedError(
        "disc.kind=unet_encoder is SF-V's discriminator (--method sfv); OSV's latent discriminator is "
        "disc.kind=upsampler or decoder");
  o.latent_channels = pipe.models().unet->config().out_channels;
  o.upsample_r = c.get<long long>("disc.upsample_r");
  o.input_size = c.get<long long>("disc.input_size");
  o.taps.clear();
  for (auto t : c.get<std::vector<long long>>("disc.taps")) o.taps.push_back(t);
  o.taps_depth = c.get<long long>("disc.taps_depth");
  o.tap_patch_embed = c.get<bool>("disc.tap_patch_embed");
  o.head_blocks = c.get<std::string>("disc.head_blocks");
  o.cls_token = c.get<std::string>("disc.cls_token");
  o.vae_scaling_factor = pipe.scaling_factor();
  // The backbone first: building it (first use in a runs folder) seeds and draws from torch's
  // generator, loading it does not — the heads must start from the same state either way.
  auto backbone = load_backbone(c);
  torch::manual_seed(static_cast<uint64_t>(c.get<long long>("seed")) + 21);
  LatentDiscriminator disc(o, std::move(backbone), o.kind == "decoder" ? pipe.models().vae : nullptr);
  disc->to(pipe.device());  // the backbone is loaded on the host; the heads are built there
  return disc;
}

// Runs one stage unless its lora.safetensors exists; returns its directory.
fs::path run_stage(int stage, const Config& c, SvdPipeline& pipe, const nlohmann::json& key, const fs::path& init_dir,
                   TrainSets& data) {
  const fs::path dir = fs::path(c.get<std::string>("run.root")) / fmt::format("osv-stage{}-{}", stage, digest12(key));
  const auto label = fmt::format("osv stage {}", stage);
  cached_run(dir, dir / "lora.safetensors", key, label, [&]() -> std::function<void()> {
    auto student = copy_unet(pipe.models().unet);
    auto disc = make_disc(c, pipe);
    torch::manual_seed(static_cast<uint64_t>(c.get<long long>("seed")) + 20 + stage);
    if (!init_dir.empty()) {
      load_lora(*student, init_dir / "lora.safetensors");
      load_disc(disc, init_dir / "disc.safetensors");
    } else {
      add_lora(*student, student_lora_config(c));
    }
    // add_lora/load_lora freeze the rest of the UNet; the task picks LoRA (+ stage-2 patterns).
    OsvStageTask task(stage, c, pipe, data, student, disc);
    const auto s = run_training(task, train_loop_options(c, dir, label, task.iters));
    log::info("{}: {} steps, final loss {:.4f}, {} skipped", label, s.total_steps, s.final_loss, s.skipped_nonfinite);
    if (stage == 2) {  // the final student is the EMA target
      torch::NoGradGuard g;
      for (std::size_t i = 0; i < task.g_params.size(); ++i) task.g_params[i].copy_(task.ema[i]);
    }
    if (writes_run_files())
      atomic_write(dir / "stage.json", nlohmann::json{{"stage", stage}, {"steps", s.total_steps},
                                                      {"skipped_nonfinite", s.skipped_nonfinite},
                                                      {"final_loss", s.final_loss},
                                                      {"data_parallel", data_parallel_json(task.batch)}}
                                            .dump(2));
    return [student, disc, dir]() mutable {
      save_disc(disc, dir / "disc.safetensors");
      save_lora(*student, dir / "lora.safetensors");  // last: its presence marks the stage done
    };
  });
  return dir;
}

// OSV's student: the teacher + merged LoRA, sampled with TTS or the k-step consistency sampler on
// its training grid. The paper samples without CFG; with --cfg (Table 2f) each call is guided.
std::unique_ptr<Method> make_osv_method(const Config& c, std::shared_ptr<SvdPipeline> pipe, const fs::path& lora) {
  ConsistencyStudentSpec s;
  s.name = "osv";
  s.weights_id = "lora:" + lora.string();
  s.student = copy_unet(pipe->models().unet);
  load_lora(*s.student, lora);
  merge_lora(*s.student);  // merged for inference
  s.param = parse_consistency_param(c.get<std::string>("train.consistency_param"));
  s.sigma_min = c.get<double>("edm.sigma_min");
  s.sigmas = [n = c.get<long long>("train.grid_n"), lo = s.sigma_min, hi = c.get<double>("edm.sigma_max"),
              rho = c.get<double>("edm.rho")](int64_t k) { return consistency_sigmas(n, k, lo, hi, rho); };
  s.tts = parse_tts_variant(c.get<std::string>("osv.tts"));
  s.tts_fresh_noise = c.get<bool>("sample.tts_fresh_noise");
  s.precision = parse_dtype(c.get<std::string>("precision"));
  return make_consistency_student(std::move(s));
}

// A stage's task that owns its training set (no runs folder, no lazily encoded half-size set).
struct StandaloneStageTask : TrainTask {
  TrainSets sets;
  std::unique_ptr<OsvStageTask> task;
  StandaloneStageTask(int stage, const Config& c, SvdPipeline& pipe, const EncodedClips& data, LatentDiscriminator disc)
      : sets{c, pipe, std::make_unique<EncodedClips>(data), nullptr} {
    auto student = copy_unet(pipe.models().unet);
    torch::manual_seed(static_cast<uint64_t>(c.get<long long>("seed")) + 20 + stage);
    add_lora(*student, student_lora_config(c));
    task = std::make_unique<OsvStageTask>(stage, c, pipe, sets, student, std::move(disc));
  }
  StepOutput step(int64_t step) override { return task->step(step); }
  void save(CheckpointWriter& a) override { task->save(a); }
  void load(const CheckpointReader& a) override { task->load(a); }
  std::map<std::string, int64_t> unet_passes() const override { return task->unet_passes(); }
};

}  // namespace

std::unique_ptr<TrainTask> make_osv_stage_task(int stage, const Config& c, SvdPipeline& pipe, const EncodedClips& data,
                                               LatentDiscriminator disc) {
  if (stage != 1 && stage != 2) throw UsageError(fmt::format("osv has stages 1 and 2, not {}", stage));
  return std::make_unique<StandaloneStageTask>(stage, c, pipe, data, std::move(disc));
}

std::vector<std::string> osv_trainable_names(torch::nn::Module& student, int stage,
                                             const std::vector<std::string>& extra_patterns) {
  std::vector<std::regex> extra;
  if (stage == 2)
    for (const auto& pat : extra_patterns) extra.emplace_back(pat);
  std::vector<std::string> names;
  for (auto& np : student.named_parameters(true)) {
    bool train = np.key().find(".lora_A.") != std::string::npos || np.key().find(".lora_B.") != std::string::npos;
    for (const auto& r : extra) train = train || std::regex_search(np.key(), r);
    if (train) names.push_back(np.key());
  }
  return names;
}

fs::path train_osv(const Config& c, std::shared_ptr<SvdPipeline> pipe, const std::string& stage) {
  const fs::path svd = pipe->models().root;
  TrainSets data{c, *pipe, nullptr, nullptr};
  fs::path s1;
  if (c.get<bool>("osv.stage1") && (stage == "1" || stage == "all" || stage == "2"))
    s1 = run_stage(1, c, *pipe, stage1_key(c, svd), {}, data);
  if (stage == "1") return s1 / "lora.safetensors";
  if (!c.get<bool>("osv.stage2")) {
    if (s1.empty()) throw UsageError("osv.stage1=false and osv.stage2=false: nothing to train");
    return s1 / "lora.safetensors";
  }
  const fs::path s2 = run_stage(2, c, *pipe, stage2_key(c, svd), s1, data);
  return s2 / "lora.safetensors";
}

void register_osv(MethodRegistry& registry) {
  registry.add(MethodInfo{
      "osv",
      "OSV: latent GAN pretraining + adversarial consistency distillation, Time Travel Sampler",
      "the OSV paper (two-stage training, latent DINOv2 discriminator, TTS)",
      {"consistency", "tts"},
      [](const Config& c, std::shared_ptr<SvdPipeline> pipe) -> std::unique_ptr<Method> {
        if (!pipe) throw InputError("osv needs the teacher's SVD models (model.path or `osvbench prepare`)");
        const auto lora = train_osv(c, pipe);
        return make_osv_method(c, pipe, lora);
      },
      {"sample.cfg=false", "sample.sampler=tts", "sample.steps=1"},
      "none",
      [](const Config& c, std::shared_ptr<SvdPipeline> pipe, const std::string& stage) { return train_osv(c, pipe, stage); },
      {"1", "2", "all"},
      {{{"consistency", "1", "none"}}, {{"tts", "1", "none"}}},
      {"osv.stage1_iters", "osv.stage2_iters"},
      {kStage1Version, kStage2Version, embedded_backbone_version()}});
}

}  // namespace osv
