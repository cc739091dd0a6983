#include "methods/svd/svd_pipeline.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/errors.h"
#include "common/log.h"
#include "models/safetensors.h"

#include "common/config.h"
#include "methods/api/checkpoint.h"
#include "methods/svd/edm.h"
#include "models/device.h"

namespace osv {

torch::Tensor to_unit_range(const torch::Tensor& u8) { return u8.to(torch::kFloat32) / 127.5 - 1.0; }
torch::Tensor from_unit_range(const torch::Tensor& x) {
  return ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch::kUInt8);
}

namespace {
double pick_scaling(const SvdFolder& m, const Config& c) {
  const double k = c.get<double>("model.vae_scaling_factor");
  return k > 0 ? k : m.vae->config().scaling_factor;
}
}  // namespace

ConditioningOptions conditioning_options(const Config& c) {
  ConditioningOptions o;
  o.noise_aug = c.get<double>("cond.noise_aug");
  o.fps = c.get<long long>("cond.fps");
  o.motion_bucket_id = c.get<long long>("cond.motion_bucket_id");
  return o;
}

torch::Tensor added_time_ids(const ConditioningOptions& o, int64_t batch, const torch::TensorOptions& options) {
  return torch::tensor({static_cast<float>(o.fps - 1), static_cast<float>(o.motion_bucket_id),
                        static_cast<float>(o.noise_aug)},
                       options.dtype(torch::kFloat32))
      .view({1, 3})
      .repeat({batch, 1});
}

EncodedClips encode_clips(SvdPipeline& pipe, const torch::Tensor& videos) {
  std::vector<torch::Tensor> lat, emb;
  for (int64_t i = 0; i < videos.size(0); i += 32) {
    auto b = videos.slice(0, i, std::min(videos.size(0), i + 32));
    lat.push_back(pipe.encode_video(b, 64));
    emb.push_back(pipe.image_embeds(b.select(1, 0)));
  }
  return EncodedClips{torch::cat(lat), torch::cat(emb), videos.select(1, 0).contiguous()};
}

SvdPipeline::SvdPipeline(const std::filesystem::path& folder, const Config& c)
    : models_(load_svd_folder(folder, c10::kFloat, c10::Device(c.get<std::string>("device")))),
      scaling_factor_(pick_scaling(models_, c)),
      cond_(osv::conditioning_options(c)),
      precision_(parse_dtype(c.get<std::string>("precision"))) {}

SvdPipeline::SvdPipeline(SvdFolder models, double scaling_factor, ConditioningOptions cond, c10::ScalarType precision)
    : models_(std::move(models)), scaling_factor_(scaling_factor), cond_(cond), precision_(precision) {}

c10::Device SvdPipeline::device() const { return models_.vae->parameters().front().device(); }

EncodedClips encode_clips_cached(SvdPipeline& pipe, const torch::Tensor& videos, const std::filesystem::path& cache_dir) {
  // The key is the digest of everything the encoding reads, recorded as a checkpoint would be.
  CheckpointWriter key;
  key.scalar("encode_clips", 1);
  key.tensor("videos", videos);
  key.module("vae.", *pipe.models().vae);
  key.module("image_encoder.", *pipe.models().image_encoder);
  const auto& n = pipe.models().image_normalisation;
  key.scalar("scaling_factor", pipe.scaling_factor());
  key.scalar("clip_image_size", pipe.models().image_encoder->config().image_size);
  key.scalar("clip_mean", std::vector<double>(n.mean.begin(), n.mean.end()));
  key.scalar("clip_std", std::vector<double>(n.std.begin(), n.std.end()));
  key.scalar("precision", c10::toString(pipe.precision()));
  key.scalar("device_type", c10::DeviceTypeName(pipe.device().type()));
  const auto file = cache_dir / ("encoded-" + key.digest().substr(0, 16) + ".safetensors");
  if (std::filesystem::exists(file)) {
    try {
      const auto f = SafetensorsFile::open(file);
      EncodedClips d{f.tensor("latents").to(pipe.device()), f.tensor("embeds").to(pipe.device()), f.tensor("first_frames")};
      if (d.latents.size(0) != videos.size(0) || d.embeds.size(0) != videos.size(0) ||
          !torch::equal(d.first_frames, videos.select(1, 0)))
        throw InputError("its clips are not these");
      log::info("encoded clips: cached in {}", file.string());
      return d;
    } catch (const std::exception& e) {
      log::warn("encoded clips: {} is not usable ({}); encoding again", file.string(), e.what());
    }
  }
  auto d = encode_clips(pipe, videos);
  std::filesystem::create_directories(cache_dir);
  save_safetensors(file, {{"latents", d.latents}, {"embeds", d.embeds}, {"first_frames", d.first_frames}},
                   {{"written_by", "osvbench (encode_clips_cached)"}});
  return d;
}

torch::Tensor SvdPipeline::image_embeds(const torch::Tensor& first_frames) {
  torch::NoGradGuard g;
  const auto x01 = first_frames.to(device()).to(torch::kFloat32) / 255.0;
  const auto px = svd_clip_preprocess(x01, models_.image_encoder->config().image_size, models_.image_normalisation);
  AutocastScope autocast(device(), precision_);
  return models_.image_encoder->forward(px).image_embeds.unsqueeze(1).to(torch::kFloat32);  // [B, 1, D]
}

Conditioning SvdPipeline::encode_conditioning(const torch::Tensor& first_frames, const torch::Tensor& aug_noise) {
  torch::NoGradGuard g;
  const int64_t B = first_frames.size(0);
  Conditioning c;
  c.image_embeds = image_embeds(first_frames);
  auto img = to_unit_range(first_frames.to(device()));
  img = img + cond_.noise_aug * (aug_noise.defined() ? aug_noise.to(img.device()) : torch::randn(img.sizes(), img.options()));
  {
    AutocastScope autocast(device(), precision_);
    c.image_latent = models_.vae->encode(img).mode().to(torch::kFloat32);  // [B, C, h, w], not scaled (SPEC §1)
  }
  c.added_time_ids = added_time_ids(cond_, B, img.options());
  return c;
}

torch::Tensor SvdPipeline::encode_video(const torch::Tensor& videos, int64_t chunk) {
  torch::NoGradGuard g;
  const int64_t B = videos.size(0), T = videos.size(1);
  auto flat = videos.reshape({B * T, videos.size(2), videos.size(3), videos.size(4)});
  std::vector<torch::Tensor> out;
  {
    AutocastScope autocast(device(), precision_);
    for (int64_t i = 0; i < B * T; i += chunk)
      out.push_back(models_.vae->encode(to_unit_range(flat.slice(0, i, std::min(B * T, i + chunk)).to(device()))).mode());
  }
  auto z = torch::cat(out).to(torch::kFloat32) * scaling_factor_;  // [B*T, C, h, w]
  return z.view({B, T, z.size(1), z.size(2), z.size(3)});
}

torch::Tensor SvdPipeline::decode(const torch::Tensor& latents, int64_t chunk) {
  torch::NoGradGuard g;
  AutocastScope autocast(device(), precision_);
  return from_unit_range(models_.vae->decode_video(latents / scaling_factor_, chunk).to(torch::kFloat32)).cpu();
}

torch::Tensor unet_forward(UNetSpatioTemporalConditionModel& unet, const torch::Tensor& x_in,
                           const torch::Tensor& c_noise, const Conditioning& cond, bool conditional) {
  const int64_t T = x_in.size(1);
  auto lat = cond.image_latent.unsqueeze(1).expand({-1, T, -1, -1, -1});  // [B, T, C, h, w]
  auto emb = cond.image_embeds;
  if (!conditional) {
    lat = torch::zeros_like(lat);
    emb = torch::zeros_like(emb);
  }
  return unet->forward(torch::cat({x_in, lat}, 2), c_noise, emb, cond.added_time_ids);
}

torch::Tensor denoise(UNetSpatioTemporalConditionModel& unet, const torch::Tensor& x, const torch::Tensor& sigma,
                      const Conditioning& cond, bool conditional) {
  auto s = sigma.to(x.options()).view({-1, 1, 1, 1, 1});
  auto c_in = 1.0 / torch::sqrt(s * s + 1.0), c_skip = 1.0 / (s * s + 1.0), c_out = -s / torch::sqrt(s * s + 1.0);
  auto c_noise = 0.25 * torch::log(sigma.to(x.options()));
  return c_skip * x + c_out * unet_forward(unet, x * c_in, c_noise, cond, conditional);
}

VideoNetwork conditioned_network(UNetSpatioTemporalConditionModel& unet, const Conditioning& cond) {
  return [&unet, cond](const torch::Tensor& x_in, double c_noise, bool conditional) {
    auto t = torch::full({x_in.size(0)}, c_noise, x_in.options());
    return unet_forward(unet, x_in, t, cond, conditional);
  };
}

Conditioning select_rows(const Conditioning& c, const torch::Tensor& index) {
  auto i = index.to(c.image_latent.device());
  return Conditioning{c.image_latent.index_select(0, i), c.image_embeds.index_select(0, i),
                      c.added_time_ids.index_select(0, i)};
}

}  // namespace osv
