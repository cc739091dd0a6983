#include "methods/distill/student.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <regex>

#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/sha256.h"
#include "datasets/clip_set.h"
#include "methods/api/train_loop.h"
#include "methods/svd/edm.h"
#include "models/device.h"

namespace osv {

UNetSpatioTemporalConditionModel copy_unet(UNetSpatioTemporalConditionModel& src) {
  UNetSpatioTemporalConditionModel dst(src->config());
  torch::NoGradGuard g;
  auto sp = src->named_parameters(true);
  for (auto& p : dst->named_parameters(true)) p.value().copy_(sp[p.key()]);
  auto sb = src->named_buffers(true);
  for (auto& b : dst->named_buffers(true)) b.value().copy_(sb[b.key()]);
  dst->to(src->parameters().front().device());
  return dst;
}

std::map<std::string, int64_t> distill_unet_passes(const UNetSpatioTemporalConditionModel& student,
                                                    const UNetSpatioTemporalConditionModel& teacher) {
  return {{"student_passes", student->clip_passes()}, {"teacher_passes", teacher->clip_passes()}};
}

EncodedClips load_train_data(const Config& c, SvdPipeline& pipe, const std::string& label, bool half) {
  auto videos = load_clips(clip_split(c, "train"), c).videos;  // uint8 [N, T, 3, H, W]
  if (half) {
    const auto s = videos.sizes();
    if (s[3] % 2 != 0 || s[4] % 2 != 0)
      throw UsageError(fmt::format("half resolution needs an even frame size, got {}x{}", s[4], s[3]));
    namespace F = torch::nn::functional;
    auto flat = videos.reshape({s[0] * s[1], s[2], s[3], s[4]}).to(torch::kFloat32);
    flat = F::interpolate(flat, F::InterpolateFuncOptions().size(std::vector<int64_t>{s[3] / 2, s[4] / 2})
                                    .mode(torch::kArea));
    videos = flat.round().clamp(0, 255).to(torch::kUInt8).reshape({s[0], s[1], s[2], s[3] / 2, s[4] / 2});
  }
  auto d = encode_clips_cached(pipe, videos, std::filesystem::path(c.get<std::string>("run.root")) / "cache");
  log::info("{}: {} training clips{} as latents {}", label, d.latents.size(0), half ? " at half resolution" : "",
            fmt::format("{}", fmt::join(d.latents.sizes(), "x")));
  return d;
}

torch::Tensor rows(const torch::Tensor& t, const torch::Tensor& idx) { return t.index_select(0, idx.to(t.device())); }

Conditioning training_conditioning(SvdPipeline& pipe, const EncodedClips& data, const torch::Tensor& idx) {
  torch::NoGradGuard g;
  const auto& co = pipe.conditioning_options();
  Conditioning cd;
  auto img = to_unit_range(rows(data.first_frames, idx).to(pipe.device()));                     // [B, 3, H, W]
  cd.image_latent = pipe.models().vae->encode(img + co.noise_aug * randn_rows(img)).mode();  // [B, C, h, w]
  cd.image_embeds = rows(data.embeds, idx);                                                     // [B, 1, D]
  cd.added_time_ids = added_time_ids(co, idx.size(0), img.options());                           // [B, 3]
  return cd;
}

BatchNet preconditioned_net(UNetSpatioTemporalConditionModel& u, const Conditioning& cd) {
  return [&u, cd](const torch::Tensor& x, const torch::Tensor& sigma) {
    auto s = sigma.to(x.options()).view({-1, 1, 1, 1, 1});
    return unet_forward(u, x / torch::sqrt(s * s + 1.0), 0.25 * torch::log(sigma.to(x.options())), cd, true);
  };
}

ConsistencyNet sampling_net(UNetSpatioTemporalConditionModel& u, const Conditioning& cd, bool cfg, double w_min,
                            double w_max, int64_t* unet_calls) {
  return [&u, cd, cfg, w_min, w_max, unet_calls](const torch::Tensor& x, double sigma) {
    const auto p = svd_preconditioning(sigma);
    auto t = torch::full({x.size(0)}, p.c_noise, x.options());
    auto cond = unet_forward(u, x * p.c_in, t, cd, true);
    if (unet_calls) *unet_calls += 1;
    if (!cfg) return cond;
    auto uncond = unet_forward(u, x * p.c_in, t, cd, false);
    if (unet_calls) *unet_calls += 1;
    const auto w = cfg_ramp(x.size(1), w_min, w_max).to(x.options()).view({1, -1, 1, 1, 1});
    return uncond + w * (cond - uncond);
  };
}

Huber huber_from_config(const Config& c, HuberMode reference) {
  Huber h;
  h.mode = parse_huber_mode(c.get<std::string>("train.huber_mode"), reference);
  h.c = c.get<double>("train.huber_c");
  h.c_scales_with_sqrt_dim = c.get<std::string>("train.huber_c_scaling") == "sqrt_dim";
  return h;
}

c10::ScalarType training_precision(const Config& c) {
  const auto t = parse_dtype(c.get<std::string>("precision"));
  if (t == c10::kHalf)
    throw UsageError("precision=fp16 trains without loss scaling here, which underflows gradients: use bf16 "
                     "(fp32's range) or fp32 to train; fp16 is for sampling");
  return t;
}

torch::Tensor autocast_forward(c10::Device device, c10::ScalarType precision, const std::function<torch::Tensor()>& f) {
  torch::Tensor out;
  {
    AutocastScope autocast(device, precision);
    out = f();
  }
  return out.is_floating_point() ? out.to(torch::kFloat32) : out;
}

LoraConfig student_lora_config(const Config& c) {
  LoraConfig l;
  l.rank = c.get<long long>("osv.lora_rank");
  l.alpha = c.get<double>("osv.lora_alpha");
  l.target_patterns = {R"(attn[12]\.(to_q|to_k|to_v|to_out\.0)$)", R"(conv[12]$)"};
  return l;
}

bool discriminator_update(torch::optim::Optimizer& opt, const std::vector<torch::Tensor>& params,
                          const torch::Tensor& loss) {
  opt.zero_grad();
  bool skipped = true;
  const bool finite = all_finite(loss);
  if (finite) loss.backward();
  if (sync_gradients(params, finite)) {  // data parallel: every rank's average
    if (std::isfinite(grad_norm(params))) {
      adam_step(opt);
      skipped = false;
    }
  }
  opt.zero_grad();
  return skipped;
}

bool generator_update(torch::optim::Optimizer& opt, const std::vector<torch::Tensor>& params,
                      std::vector<torch::Tensor>& ema, double mu, const torch::Tensor& loss,
                      std::map<std::string, double>& m) {
  opt.zero_grad();
  bool ok = all_finite(loss);
  if (ok) loss.backward();
  ok = sync_gradients(params, ok, m.count("loss") ? &m["loss"] : nullptr);  // data parallel: every rank's average
  if (ok) {
    const double gn = grad_norm(params);
    m["grad_norm"] = gn;
    ok = std::isfinite(gn);
    if (ok) {
      adam_step(opt);
      ema_update(ema, params, mu);
    }
  }
  opt.zero_grad();
  return ok;
}

torch::Tensor with_ema_weights(std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& ema,
                               const std::function<torch::Tensor()>& f) {
  torch::NoGradGuard g;
  std::vector<torch::Tensor> saved;
  saved.reserve(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    saved.push_back(params[i].detach().clone());
    params[i].copy_(ema[i]);
  }
  auto out = f();
  for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(saved[i]);
  return out;
}

void GanState::save(CheckpointWriter& a) const {
  a.tensors("g.", g);
  a.tensors("d.", d);
  a.tensors("ema.", ema);
  a.optimizer("opt_g", opt_g);
  a.optimizer("opt_d", opt_d);
  if (d_state) a.tensors("d_state.", *d_state);
}

void GanState::load(const CheckpointReader& a) const {
  a.tensors("g.", g);
  a.tensors("d.", d);
  a.tensors("ema.", ema);
  a.optimizer("opt_g", opt_g);
  a.optimizer("opt_d", opt_d);
  if (d_state) a.tensors("d_state.", *d_state);
}

nlohmann::json config_values(const Config& c, std::initializer_list<const char*> names) {
  nlohmann::json j;
  for (const char* k : names) j[k] = c.at(k);
  return j;
}

std::string digest12(const nlohmann::json& j) { return sha256_hex(j.dump()).substr(0, 12); }

nlohmann::json run_key(const Config& c, std::initializer_list<const char*> names, const std::filesystem::path& svd,
                       const std::string& version) {
  nlohmann::json k = config_values(c, names);
  k["svd"] = svd.string();
  k["data"] = data_identity(c);
  k["version"] = version;
  k["precision"] = c.get<std::string>("precision");  // training_precision: the forward passes' autocast
  return k;
}

std::string data_identity(const Config& c) {
  const auto source = c.get<std::string>("data.source");
  if (source == "synthetic") return std::filesystem::path(synthetic_data_dir(c)).filename().string();
  if (source == "openvid")  // which rows the train split holds depends on all of these
    return fmt::format("openvid:{}:{}:test{}:train{}:seed{}", c.get<std::string>("data.csv"),
                       c.get<std::string>("data.root"), c.get<long long>("data.num_test"),
                       c.get<long long>("data.num_train"), c.get<long long>("data.split_seed"));
  return source + ":" + c.get<std::string>("data.root");
}

std::vector<std::string> names_matching(torch::nn::Module& m, const std::vector<std::string>& patterns) {
  std::vector<std::regex> rs;
  for (const auto& p : patterns) rs.emplace_back(p);
  std::vector<std::string> names;
  for (auto& np : m.named_parameters(true))
    for (const auto& r : rs)
      if (std::regex_search(np.key(), r)) {
        names.push_back(np.key());
        break;
      }
  return names;
}

}  // namespace osv
