#include "methods/svd/embedded.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>

#include "common/atomic_file.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/sha256.h"
#include "datasets/clip_set.h"
#include "methods/api/train_loop.h"
#include "methods/svd/svd_pipeline.h"
#include "models/weights.h"

namespace osv {
namespace fs = std::filesystem;

EmbeddedSvdConfig embedded_svd_config(const Config& c) {
  const bool tiny = c.get<std::string>("model.embedded") == "tiny";
  EmbeddedSvdConfig e;
  // SVD's spatial compression: 8x at small, 4x at tiny. Latent channels: model.embedded_latent_channels
  // (SVD's 4 by default; the small preset takes 16, 12x fewer values than RGB instead of 48x: at 4 the
  // 8x8 latent of a 64x64 clip loses its small shapes — README and the fidelity ledger, row D8).
  e.vae.block_out_channels = tiny ? std::vector<int64_t>{32, 32, 32} : std::vector<int64_t>{32, 64, 64, 64};
  e.vae.layers_per_block = 1;
  e.vae.latent_channels = c.get<long long>("model.embedded_latent_channels");  // SVD's: 4
  e.vae.scaling_factor = 1.0;  // measured after training
  auto& ie = e.image_encoder;
  ie.hidden_size = tiny ? 32 : 64;
  ie.intermediate_size = 2 * ie.hidden_size;
  ie.num_hidden_layers = tiny ? 1 : 2;
  ie.num_attention_heads = 2;
  // 224 x 224 input like SVD's CLIP: diffusers' pipeline resizes every first frame to 224 for the
  // image encoder, so a folder built for another size does not run there. Patch 32: 7 x 7 tokens.
  ie.image_size = 224;
  ie.patch_size = 32;
  ie.projection_dim = tiny ? 32 : 64;
  ie.hidden_act = "gelu";
  auto& u = e.unet;
  const int64_t factor = int64_t{1} << (e.vae.block_out_channels.size() - 1);
  u.sample_size = c.get<long long>("data.height") / factor;
  u.in_channels = 2 * e.vae.latent_channels;
  u.out_channels = e.vae.latent_channels;
  if (tiny) {
    u.down_block_types = {"CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"};
    u.up_block_types = {"UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"};
    u.block_out_channels = {32, 32};
    u.num_attention_heads = {1, 1};
  } else {
    u.down_block_types = {"CrossAttnDownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal",
                          "DownBlockSpatioTemporal"};
    u.up_block_types = {"UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"};
    u.block_out_channels = {64, 64, 64};
    u.num_attention_heads = {2, 2, 2};
  }
  const auto n = u.block_out_channels.size();
  u.layers_per_block = std::vector<int64_t>(n, 1);
  u.transformer_layers_per_block = std::vector<int64_t>(n, 1);
  u.cross_attention_dim = std::vector<int64_t>(n, ie.projection_dim);
  u.addition_time_embed_dim = tiny ? 8 : 16;
  u.projection_class_embeddings_input_dim = 3 * u.addition_time_embed_dim;
  u.num_frames = c.get<long long>("data.frames");
  return e;
}

nlohmann::json vae_config_json(const VaeTemporalConfig& c, int64_t sample_size) {
  return {{"_class_name", "AutoencoderKLTemporalDecoder"},
          {"in_channels", c.in_channels},
          {"out_channels", c.out_channels},
          {"down_block_types", std::vector<std::string>(c.block_out_channels.size(), "DownEncoderBlock2D")},
          {"block_out_channels", c.block_out_channels},
          {"layers_per_block", c.layers_per_block},
          {"latent_channels", c.latent_channels},
          {"sample_size", sample_size},
          {"scaling_factor", c.scaling_factor},
          {"force_upcast", true}};
}

nlohmann::json unet_config_json(const UNetSVDConfig& c) {
  return {{"_class_name", "UNetSpatioTemporalConditionModel"},
          {"sample_size", c.sample_size},
          {"in_channels", c.in_channels},
          {"out_channels", c.out_channels},
          {"down_block_types", c.down_block_types},
          {"up_block_types", c.up_block_types},
          {"block_out_channels", c.block_out_channels},
          {"addition_time_embed_dim", c.addition_time_embed_dim},
          {"projection_class_embeddings_input_dim", c.projection_class_embeddings_input_dim},
          {"layers_per_block", c.layers_per_block},
          {"cross_attention_dim", c.cross_attention_dim},
          {"transformer_layers_per_block", c.transformer_layers_per_block},
          {"num_attention_heads", c.num_attention_heads},
          {"num_frames", c.num_frames}};
}

nlohmann::json clip_config_json(const ClipVisionConfig& c) {
  return {{"architectures", {"CLIPVisionModelWithProjection"}},
          {"model_type", "clip_vision_model"},
          {"hidden_size", c.hidden_size},
          {"intermediate_size", c.intermediate_size},
          {"num_hidden_layers", c.num_hidden_layers},
          {"num_attention_heads", c.num_attention_heads},
          {"image_size", c.image_size},
          {"patch_size", c.patch_size},
          {"num_channels", c.num_channels},
          {"projection_dim", c.projection_dim},
          {"layer_norm_eps", c.layer_norm_eps},
          {"hidden_act", c.hidden_act}};
}

namespace {

const char* kKnobs[] = {"seed",
                        "model.embedded",
                        "train.vae_iters",
                        "train.vae_lr",
                        "train.vae_kl_weight",
                        "train.vae_pool_weight",
                        "train.image_encoder_iters",
                        "train.image_encoder_lr",
                        "train.teacher_iters",
                        "train.teacher_lr",
                        "train.teacher_batch",
                        "train.p_mean",
                        "train.p_std",
                        "train.cond_dropout",
                        "cond.noise_aug",
                        "cond.fps",
                        "cond.motion_bucket_id",
                        "edm.sigma_min",
                        "edm.sigma_max"};

// Exponential moving average of a parameter list (warm-up min(decay, (1 + n) / (10 + n))).
struct Ema {
  std::vector<torch::Tensor> shadow;
  void init(const std::vector<torch::Tensor>& params) {
    shadow.clear();
    for (const auto& p : params) shadow.push_back(p.detach().clone());
  }
  void update(const std::vector<torch::Tensor>& params, double decay, int64_t step) {
    torch::NoGradGuard g;
    const double d = std::min(decay, (1.0 + static_cast<double>(step)) / (10.0 + static_cast<double>(step)));
    ema_update(shadow, params, d);
  }
  void copy_to(const std::vector<torch::Tensor>& params) const {
    torch::NoGradGuard g;
    for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(shadow[i]);
  }
};

// Finishes a step: skip on a non-finite loss or gradient norm, else clip and update.
StepOutput finish_step(torch::optim::Optimizer& opt, const std::vector<torch::Tensor>& params, torch::Tensor loss,
                       std::map<std::string, double> metrics, double lr, double clip = 1.0) {
  StepOutput out;
  metrics["loss"] = loss.item<double>();
  metrics["lr"] = lr;
  opt.zero_grad();
  const bool finite = std::isfinite(metrics["loss"]);
  if (finite) loss.backward();
  if (!sync_gradients(params, finite, &metrics["loss"])) {  // data parallel: every rank's average
    out.finite = false;
  } else {
    const auto norm = grad_norm_tensor(params);
    const double gn = norm.item<double>();
    metrics["grad_norm"] = gn;
    if (!std::isfinite(gn)) {
      out.finite = false;
    } else {
      if (clip > 0) clip_grads(params, norm, clip);
      adam_step(opt);
    }
  }
  opt.zero_grad();
  out.metrics = std::move(metrics);
  return out;
}

struct VaeTask : TrainTask {
  AutoencoderKLTemporalDecoder vae;
  torch::Tensor clips;  // uint8 [N, T, 3, H, W]
  int64_t batch, crop;
  double lr, kl_weight, pool_weight;
  torch::optim::Adam opt;
  VaeTask(AutoencoderKLTemporalDecoder v, torch::Tensor c, int64_t b, int64_t crop_, double lr_, double kl, double pool)
      : vae(std::move(v)), clips(std::move(c)), batch(b), crop(crop_), lr(lr_), kl_weight(kl), pool_weight(pool),
        opt(vae->parameters(), torch::optim::AdamOptions(lr_)) {
    if (pool_weight > 0 && vae->config().latent_channels < 3)
      throw UsageError("train.vae_pool_weight needs at least 3 latent channels");
  }
  StepOutput step(int64_t) override {
    vae->train();
    const int64_t T = clips.size(1);
    // Data parallel: the global batch's clips and crop are drawn on every rank, each keeps its rows.
    auto idx = local_rows(torch::randint(clips.size(0), {batch}, torch::kInt64));
    auto x = to_unit_range(clips.index_select(0, idx).to(vae->parameters().front().device()));  // [B, T, 3, H, W]
    if (crop > 0 && crop < x.size(3)) {  // a random crop (the networks are convolutional): cheaper steps
      const auto y0 = torch::randint(x.size(3) - crop + 1, {1}).item<int64_t>();
      const auto x0 = torch::randint(x.size(4) - crop + 1, {1}).item<int64_t>();
      x = x.slice(3, y0, y0 + crop).slice(4, x0, x0 + crop).contiguous();
    }
    auto flat = x.view({x.size(0) * T, x.size(2), x.size(3), x.size(4)});  // [B*T, 3, H, W]
    auto post = vae->encode(flat);
    auto z = post.mean + post.std() * randn_rows(post.mean);  // the posterior's sample, drawn for the global batch
    auto rec = vae->decode(z, T);                                           // [B*T, 3, H, W]
    auto l1 = (rec - flat).abs().mean(), mse = (rec - flat).pow(2).mean();
    auto kl = 0.5 * (post.mean.pow(2) + post.logvar.exp() - 1.0 - post.logvar).sum({1, 2, 3}).mean();
    auto loss = l1 + mse + kl_weight * kl;
    std::map<std::string, double> metrics{{"l1", l1.item<double>()}, {"mse", mse.item<double>()}, {"kl", kl.item<double>()}};
    if (pool_weight > 0) {
      // The decoder's group-normalised layers learn to carry a frame's colour only once the latent
      // holds it, and the encoder learns to hold it only once the decoder uses it: without this
      // term the small VAE stays on a grey plateau (bench/vae_convergence.py). It anchors latent
      // channels 0-2 to the frame's average pool at latent resolution.
      auto pooled = torch::avg_pool2d(flat, flat.size(2) / post.mean.size(2));  // [B*T, 3, h, w]
      auto pool = (post.mean.slice(1, 0, 3) - pooled).abs().mean();
      loss = loss + pool_weight * pool;
      metrics["pool"] = pool.item<double>();
    }
    return finish_step(opt, vae->parameters(), loss, std::move(metrics), lr);
  }
  void save(CheckpointWriter& a) override {
    a.module("vae.", *vae);
    a.optimizer("opt", opt);
  }
  void load(const CheckpointReader& a) override {
    a.module("vae.", *vae);
    a.optimizer("opt", opt);
  }
};

constexpr int64_t kThumb = 8;  // the image encoder's regression target: an 8x8 thumbnail

struct ImageEncoderTask : TrainTask {
  ClipVisionModelWithProjection enc;
  torch::nn::Linear head;
  torch::Tensor clips;
  int64_t batch;
  double lr;
  ClipNormalisation norm;
  torch::optim::Adam opt;
  std::vector<torch::Tensor> params;
  ImageEncoderTask(ClipVisionModelWithProjection e, torch::Tensor c, int64_t b, double lr_)
      : enc(std::move(e)), head(enc->config().projection_dim, 3 * kThumb * kThumb), clips(std::move(c)), batch(b),
        lr(lr_), opt(std::vector<torch::Tensor>{}, torch::optim::AdamOptions(lr_)) {
    params = enc->parameters();
    for (const auto& p : head->parameters()) params.push_back(p);
    opt = torch::optim::Adam(params, torch::optim::AdamOptions(lr_));
  }
  StepOutput step(int64_t) override {
    enc->train();
    // Data parallel: the global batch's clips and frames are drawn on every rank, each keeps its rows.
    auto idx = torch::randint(clips.size(0), {batch}, torch::kInt64);
    auto t = local_rows(torch::randint(clips.size(1), {batch}, torch::kInt64));
    idx = local_rows(idx);
    auto frames = clips.index_select(0, idx);  // [B, T, 3, H, W]
    std::vector<torch::Tensor> f;
    for (int64_t i = 0; i < idx.size(0); ++i) f.push_back(frames[i][t[i].item<int64_t>()]);
    auto x01 = torch::stack(f).to(enc->parameters().front().device()).to(torch::kFloat32) / 255.0;  // [B, 3, H, W]
    auto emb = enc->forward(svd_clip_preprocess(x01, enc->config().image_size, norm)).image_embeds;  // [B, E]
    auto target = torch::adaptive_avg_pool2d(x01 * 2.0 - 1.0, {kThumb, kThumb}).flatten(1);    // [B, 3*8*8]
    auto loss = (head->forward(emb) - target).pow(2).mean();
    return finish_step(opt, params, loss, {}, lr);
  }
  void save(CheckpointWriter& a) override {
    a.module("enc.", *enc);
    a.module("head.", *head);
    a.optimizer("opt", opt);
  }
  void load(const CheckpointReader& a) override {
    a.module("enc.", *enc);
    a.module("head.", *head);
    a.optimizer("opt", opt);
  }
};

struct TeacherTask : TrainTask {
  UNetSpatioTemporalConditionModel unet;
  AutoencoderKLTemporalDecoder vae;  // frozen: encodes the noise-augmented conditioning frame
  torch::Tensor latents;             // [N, T, C, h, w], scaled
  torch::Tensor first_frames;        // uint8 [N, 3, H, W]
  torch::Tensor embeds;              // [N, 1, D]
  ConditioningOptions cond;
  int64_t batch;
  double lr, p_mean, p_std, dropout, sigma_min, sigma_max, ema_decay = 0.999;
  torch::optim::Adam opt;
  std::vector<torch::Tensor> params;
  Ema ema;
  TeacherTask(UNetSpatioTemporalConditionModel u, AutoencoderKLTemporalDecoder v, const Config& c)
      : unet(std::move(u)), vae(std::move(v)), batch(c.get<long long>("train.teacher_batch")),
        lr(c.get<double>("train.teacher_lr")), p_mean(c.get<double>("train.p_mean")),
        p_std(c.get<double>("train.p_std")), dropout(c.get<double>("train.cond_dropout")),
        sigma_min(c.get<double>("edm.sigma_min")), sigma_max(c.get<double>("edm.sigma_max")),
        opt(unet->parameters(), torch::optim::AdamOptions(lr)) {
    params = unet->parameters();
    ema.init(params);
    cond = conditioning_options(c);
  }
  StepOutput step(int64_t step) override {
    unet->train();
    // Data parallel: every draw is made for the global batch (train.teacher_batch rows) and this
    // rank keeps its B rows of it (all of them in one process).
    auto idx = local_rows(torch::randint(latents.size(0), {batch}, torch::kInt64));  // host: the data order
    const int64_t B = idx.size(0);
    auto z = latents.index_select(0, idx.to(latents.device()));  // [B, T, C, h, w]
    const auto opts = z.options();
    Conditioning cd;
    {
      torch::NoGradGuard g;
      auto img = to_unit_range(first_frames.index_select(0, idx.to(first_frames.device())).to(z.device()));
      cd.image_latent = vae->encode(img + cond.noise_aug * randn_rows(img)).mode();  // [B, C, h, w]
    }
    cd.image_embeds = embeds.index_select(0, idx.to(embeds.device()));
    cd.added_time_ids = added_time_ids(cond, B, opts);
    // Conditioning dropout: both the embedding and the image latent, as the unconditional branch.
    auto keep = local_rows(torch::rand({batch}, opts) >= dropout).to(torch::kFloat32);
    cd.image_latent = cd.image_latent * keep.view({B, 1, 1, 1});
    cd.image_embeds = cd.image_embeds * keep.view({B, 1, 1});
    auto sigma = local_rows(torch::exp(p_mean + p_std * torch::randn({batch}, opts)).clamp(sigma_min, sigma_max));  // [B]
    auto s = sigma.view({B, 1, 1, 1, 1});
    auto x = z + s * randn_rows(z);
    auto c_in = 1.0 / torch::sqrt(s * s + 1.0), c_skip = 1.0 / (s * s + 1.0), c_out = -s / torch::sqrt(s * s + 1.0);
    auto f = unet_forward(unet, x * c_in, 0.25 * torch::log(sigma), cd, true);
    auto target = (z - c_skip * x) / c_out;
    auto loss = (f - target).pow(2).mean();
    auto out = finish_step(opt, params, loss, {{"sigma_mean", sigma.mean().item<double>()}}, lr);
    if (out.finite) ema.update(params, ema_decay, step);
    return out;
  }
  void save(CheckpointWriter& a) override {
    a.module("unet.", *unet);
    a.optimizer("opt", opt);
    a.tensors("ema.", ema.shadow);
  }
  void load(const CheckpointReader& a) override {
    a.module("unet.", *unet);
    a.optimizer("opt", opt);
    a.tensors("ema.", ema.shadow);
  }
};

void write_static_files(const fs::path& dir, const EmbeddedSvdConfig& e, const Config& c) {
  atomic_write(dir / "model_index.json",
               nlohmann::json{{"_class_name", "StableVideoDiffusionPipeline"},
                              {"_diffusers_version", "0.42.1"},
                              {"feature_extractor", {"transformers", "CLIPImageProcessor"}},
                              {"image_encoder", {"transformers", "CLIPVisionModelWithProjection"}},
                              {"scheduler", {"diffusers", "EulerDiscreteScheduler"}},
                              {"unet", {"diffusers", "UNetSpatioTemporalConditionModel"}},
                              {"vae", {"diffusers", "AutoencoderKLTemporalDecoder"}}}
                       .dump(2));
  atomic_write(dir / "scheduler" / "scheduler_config.json",
               nlohmann::json{{"_class_name", "EulerDiscreteScheduler"},
                              {"num_train_timesteps", 1000},
                              {"beta_start", 0.00085},
                              {"beta_end", 0.012},
                              {"beta_schedule", "scaled_linear"},
                              {"prediction_type", "v_prediction"},
                              {"interpolation_type", "linear"},
                              {"use_karras_sigmas", true},
                              {"sigma_min", c.get<double>("edm.sigma_min")},
                              {"sigma_max", c.get<double>("edm.sigma_max")},
                              {"timestep_spacing", "leading"},
                              {"timestep_type", "continuous"},
                              {"steps_offset", 1},
                              {"set_alpha_to_one", false},
                              {"skip_prk_steps", true}}
                   .dump(2));
  const ClipNormalisation n;
  const auto s = e.image_encoder.image_size;
  atomic_write(dir / "feature_extractor" / "preprocessor_config.json",
               nlohmann::json{{"image_processor_type", "CLIPImageProcessor"},
                              {"crop_size", {{"height", s}, {"width", s}}},
                              {"size", {{"shortest_edge", s}}},
                              {"do_center_crop", true},
                              {"do_normalize", true},
                              {"do_resize", true},
                              {"do_rescale", true},
                              {"rescale_factor", 1.0 / 255.0},
                              {"image_mean", n.mean},
                              {"image_std", n.std}}
                   .dump(2));
}

}  // namespace

std::unique_ptr<TrainTask> make_teacher_task(const Config& c, UNetSpatioTemporalConditionModel unet,
                                             AutoencoderKLTemporalDecoder vae, torch::Tensor latents,
                                             torch::Tensor embeds, torch::Tensor first_frames) {
  auto t = std::make_unique<TeacherTask>(std::move(unet), std::move(vae), c);
  t->latents = std::move(latents);
  t->embeds = std::move(embeds);
  t->first_frames = std::move(first_frames);
  return t;
}

namespace {

// The cache keys' versions of the embedded models (embedded_svd_recipe).
constexpr const char* kComponentVersion = "embedded-svd-component-1";
constexpr const char* kFolderVersion = "embedded-svd-1";

// What a component's weights depend on: the same value means the same trained weights. The
// teacher depends on everything (it is trained on the VAE's latents and the encoder's
// embeddings), so it is keyed by the whole folder; the VAE and the image encoder only by their
// own knobs, so that changing a teacher knob reuses them instead of training them again.
std::string component_key(const Config& c, const std::string& component) {
  const auto e = embedded_svd_config(c);
  nlohmann::json key;
  key["version"] = kComponentVersion;
  key["component"] = component;
  key["data"] = fs::path(synthetic_data_dir(c)).filename().string();
  for (const char* k : {"seed", "model.embedded"}) key[k] = c.at(k);
  const std::string prefix = component == "vae" ? "train.vae_" : "train.image_encoder_";
  for (const char* k : kKnobs)
    if (std::string(k).rfind(prefix, 0) == 0) key[k] = c.at(k);
  key["architecture"] = component == "vae" ? vae_config_json(e.vae, 0) : clip_config_json(e.image_encoder);
  return sha256_hex(key.dump());
}

constexpr const char* kComponentKeyFile = "osvbench_component_key.json";

// Copies `component` (its weights folder and its training logs) from another embedded-models
// folder under the same assets directory whose copy was built with the same component key.
// Returns the folder it came from, or an empty path when none matches.
fs::path reuse_component(const fs::path& dir, const std::string& component, const std::string& key) {
  const fs::path assets = dir.parent_path();
  if (!fs::is_directory(assets)) return {};
  for (const auto& entry : fs::directory_iterator(assets)) {
    const fs::path other = entry.path();
    if (other == dir || other.filename().string().rfind("svd-embedded-", 0) != 0) continue;
    const fs::path key_file = other / component / kComponentKeyFile;
    if (!fs::exists(key_file)) continue;
    try {
      if (nlohmann::json::parse(read_file(key_file)).value("key", "") != key) continue;
    } catch (const std::exception&) {
      continue;  // unreadable key file: not a match
    }
    const fs::path tmp = dir / (component + ".partial");
    fs::remove_all(tmp);
    fs::copy(other / component, tmp, fs::copy_options::recursive);
    if (fs::exists(other / "train" / component)) {
      fs::remove_all(dir / "train" / component);
      fs::create_directories(dir / "train");
      fs::copy(other / "train" / component, dir / "train" / component, fs::copy_options::recursive);
    }
    fs::remove_all(dir / component);
    fs::rename(tmp, dir / component);  // the weights appear complete or not at all
    return other;
  }
  return {};
}

}  // namespace

std::vector<std::string> embedded_svd_recipe() { return {kFolderVersion, kComponentVersion}; }

fs::path embedded_svd_dir(const Config& c) {
  nlohmann::json key;
  key["version"] = kFolderVersion;
  key["data"] = fs::path(synthetic_data_dir(c)).filename().string();  // not the runs folder
  for (const char* k : kKnobs) key[k] = c.at(k);
  const auto e = embedded_svd_config(c);
  key["architecture"] = {vae_config_json(e.vae, 0), clip_config_json(e.image_encoder), unet_config_json(e.unet)};
  return fs::path(c.get<std::string>("run.root")) / "assets" / ("svd-embedded-" + sha256_hex(key.dump()).substr(0, 12));
}

fs::path svd_folder_for(const Config& c) {
  const auto p = c.get<std::string>("model.path");
  if (!p.empty()) return p;
  const auto dir = embedded_svd_dir(c);
  if (!fs::exists(dir / "unet" / "diffusion_pytorch_model.safetensors"))
    throw InputError(fmt::format("the embedded models are not built ({}); run `osvbench prepare` with the same "
                                 "config first, or set model.path to a diffusers SVD folder",
                                 dir.string()));
  return dir;
}

void prepare_embedded_svd(const Config& c, const std::vector<std::string>& components, bool force,
                          const std::function<void(const std::string&, const std::string&, double)>& report) {
  const fs::path dir = embedded_svd_dir(c);
  const auto e = embedded_svd_config(c);
  auto wants = [&](const std::string& a) {
    return components.empty() || std::find(components.begin(), components.end(), a) != components.end();
  };
  if (force) {
    for (const char* comp : {"vae", "image_encoder", "unet"})
      if (wants(comp == std::string("unet") ? "teacher" : comp)) {
        fs::remove_all(dir / comp);
        fs::remove_all(dir / "train" / comp);
      }
  }
  fs::create_directories(dir);
  write_static_files(dir, e, c);
  const fs::path vae_file = dir / "vae" / "diffusion_pytorch_model.safetensors";
  const fs::path enc_file = dir / "image_encoder" / "model.safetensors";
  const fs::path unet_file = dir / "unet" / "diffusion_pytorch_model.safetensors";
  const auto H = c.get<long long>("data.height");
  torch::Tensor train_clips;
  auto clips = [&]() -> const torch::Tensor& {
    if (!train_clips.defined()) {
      auto set = load_clips(clip_split(c, "train"), c);
      log::info("training clips: {} ({})", set.videos.size(0), set.report.summary());
      train_clips = set.videos;
    }
    return train_clips;
  };
  // Builds one component unless it is there. A component with its own key (the VAE and the image
  // encoder; the teacher passes none) is first looked for in sibling folders built with the same
  // key (e.g. one that differs only in a teacher knob), and records its key once present.
  auto timed = [&](const std::string& name, const fs::path& file, const std::string& key,
                   const std::function<void()>& build) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string comp = file.parent_path().filename().string();
    std::string how = fs::exists(file) ? " (cached)" : "";
    if (how.empty() && !key.empty() && !force)
      if (const auto from = reuse_component(dir, comp, key); !from.empty() && fs::exists(file))
        how = " (reused from " + from.filename().string() + ")";
    if (how.empty()) build();
    if (!key.empty() && !fs::exists(file.parent_path() / kComponentKeyFile))
      atomic_write(file.parent_path() / kComponentKeyFile, nlohmann::json{{"component", comp}, {"key", key}}.dump(2));
    report(name, file.parent_path().string() + how,
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  const int64_t seed = c.get<long long>("seed");

  if (wants("vae") || wants("image_encoder") || wants("teacher")) {
    timed("vae", vae_file, component_key(c, "vae"), [&] {
      torch::manual_seed(static_cast<uint64_t>(seed) + 11);
      AutoencoderKLTemporalDecoder vae(e.vae);
      // Crops of half the frame size (at least 4 latent pixels).
      const int64_t factor = int64_t{1} << (e.vae.block_out_channels.size() - 1);
      VaeTask task(vae, clips(), 2,
                   std::max<int64_t>(H / 2, 4 * factor), c.get<double>("train.vae_lr"),
                   c.get<double>("train.vae_kl_weight"), c.get<double>("train.vae_pool_weight"));
      const auto s = run_training(task, train_loop_options(c, dir / "train" / "vae", "vae", c.get<long long>("train.vae_iters")));
      log::info("vae: {} steps, final loss {:.4f}, {} skipped", s.total_steps, s.final_loss, s.skipped_nonfinite);
      // scaling_factor = 1 / std of the latents' modes over (up to) 256 training clips.
      torch::NoGradGuard g;
      vae->eval();
      const auto n = std::min<int64_t>(256, clips().size(0));
      auto sub = clips().slice(0, 0, n);
      auto flat = sub.reshape({n * sub.size(1), sub.size(2), sub.size(3), sub.size(4)});
      std::vector<torch::Tensor> zs;
      for (int64_t i = 0; i < flat.size(0); i += 64)
        zs.push_back(vae->encode(to_unit_range(flat.slice(0, i, std::min(flat.size(0), i + 64)))).mode());
      const double sd = torch::cat(zs).std().item<double>();
      auto cfg = e.vae;
      cfg.scaling_factor = 1.0 / sd;
      log::info("vae: latent std {:.4f} -> scaling_factor {:.4f}", sd, cfg.scaling_factor);
      atomic_write(dir / "vae" / "config.json", vae_config_json(cfg, H).dump(2));
      save_weights(*vae, vae_file, {{"trained_by", "osvbench prepare (embedded VAE)"}});
    });
  }
  if (wants("image_encoder") || wants("teacher")) {
    timed("image_encoder", enc_file, component_key(c, "image_encoder"), [&] {
      torch::manual_seed(static_cast<uint64_t>(seed) + 12);
      ClipVisionModelWithProjection enc(e.image_encoder);
      ImageEncoderTask task(enc, clips(), 16, c.get<double>("train.image_encoder_lr"));
      const auto s = run_training(task, train_loop_options(c, dir / "train" / "image_encoder", "image_encoder",
                                                     c.get<long long>("train.image_encoder_iters")));
      log::info("image_encoder: {} steps, final loss {:.4f}", s.total_steps, s.final_loss);
      atomic_write(dir / "image_encoder" / "config.json", clip_config_json(e.image_encoder).dump(2));
      save_weights(*enc, enc_file, {{"trained_by", "osvbench prepare (embedded image encoder)"}});
    });
  }
  if (wants("teacher")) {
    timed("teacher", unet_file, "", [&] {
      auto vae = load_pretrained<AutoencoderKLTemporalDecoder, VaeTemporalConfig>(dir / "vae");
      auto enc = load_pretrained<ClipVisionModelWithProjection, ClipVisionConfig>(dir / "image_encoder");
      SvdFolder parts;
      parts.vae = vae;
      parts.image_encoder = enc;
      SvdPipeline pipe(parts, vae->config().scaling_factor, ConditioningOptions{});
      torch::manual_seed(static_cast<uint64_t>(seed) + 13);
      UNetSpatioTemporalConditionModel unet(e.unet);
      parts.unet = unet;
      TeacherTask task(unet, vae, c);
      log::info("teacher: encoding {} training clips to latents", clips().size(0));
      auto enc_clips = encode_clips_cached(pipe, clips(), fs::path(c.get<std::string>("run.root")) / "cache");
      task.latents = enc_clips.latents;
      task.embeds = enc_clips.embeds;
      task.first_frames = enc_clips.first_frames;
      log::info("teacher: latents {} std {:.3f}", fmt::join(task.latents.sizes(), "x"), task.latents.std().item<double>());
      const auto s = run_training(task, train_loop_options(c, dir / "train" / "unet", "teacher",
                                                     c.get<long long>("train.teacher_iters")));
      log::info("teacher: {} steps, final loss {:.4f}, {} skipped", s.total_steps, s.final_loss, s.skipped_nonfinite);
      task.ema.copy_to(task.params);  // the teacher is the EMA of the weights
      atomic_write(dir / "unet" / "config.json", unet_config_json(e.unet).dump(2));
      save_weights(*unet, unet_file, {{"trained_by", "osvbench prepare (embedded teacher, EMA 0.999)"}});
    });
  }
}

}  // namespace osv
