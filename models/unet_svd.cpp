#include "models/unet_svd.h"

#include <fmt/format.h>

#include "common/errors.h"
#include "models/nn_util.h"
#include "models/safetensors.h"
#include "models/svd_blocks.h"
#include "models/weights.h"

namespace osv {
namespace F = torch::nn::functional;

namespace {
std::vector<int64_t> per_block(const nlohmann::json& j, const std::string& key, std::vector<int64_t> fallback,
                               std::size_t blocks) {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  const auto& v = j.at(key);
  if (v.is_number_integer()) return std::vector<int64_t>(blocks, v.get<int64_t>());
  std::vector<int64_t> out;
  for (const auto& e : v) {
    if (!e.is_number_integer())
      throw InputError(fmt::format("unet config '{}': nested per-layer lists are not supported", key));
    out.push_back(e.get<int64_t>());
  }
  if (out.size() != blocks)
    throw InputError(fmt::format("unet config '{}': {} entries for {} blocks", key, out.size(), blocks));
  return out;
}
}  // namespace

UNetSVDConfig UNetSVDConfig::from_json(const nlohmann::json& j) {
  UNetSVDConfig c;
  c.sample_size = config_value(j, "sample_size", c.sample_size);
  c.in_channels = config_value(j, "in_channels", c.in_channels);
  c.out_channels = config_value(j, "out_channels", c.out_channels);
  c.down_block_types = config_value(j, "down_block_types", c.down_block_types);
  c.up_block_types = config_value(j, "up_block_types", c.up_block_types);
  c.block_out_channels = config_value(j, "block_out_channels", c.block_out_channels);
  c.addition_time_embed_dim = config_value(j, "addition_time_embed_dim", c.addition_time_embed_dim);
  c.projection_class_embeddings_input_dim =
      config_value(j, "projection_class_embeddings_input_dim", c.projection_class_embeddings_input_dim);
  const auto n = c.block_out_channels.size();
  c.layers_per_block = per_block(j, "layers_per_block", std::vector<int64_t>(n, 2), n);
  c.cross_attention_dim = per_block(j, "cross_attention_dim", std::vector<int64_t>(n, 1024), n);
  c.transformer_layers_per_block = per_block(j, "transformer_layers_per_block", std::vector<int64_t>(n, 1), n);
  c.num_attention_heads = per_block(j, "num_attention_heads", std::vector<int64_t>(n, 8), n);
  c.num_frames = config_value(j, "num_frames", c.num_frames);
  if (c.down_block_types.size() != n || c.up_block_types.size() != n)
    throw InputError("unet config: down/up block types and block_out_channels differ in length");
  return c;
}

torch::Tensor timestep_features(const torch::Tensor& t, int64_t dim) {
  const int64_t half = dim / 2;
  auto exponent = -std::log(10000.0) * torch::arange(half, t.options().dtype(torch::kFloat32)) / static_cast<double>(half);
  auto emb = t.to(torch::kFloat32).unsqueeze(1) * torch::exp(exponent).unsqueeze(0);  // [N, half]
  emb = torch::cat({torch::cos(emb), torch::sin(emb)}, -1);
  if (dim % 2 == 1) emb = F::pad(emb, F::PadFuncOptions({0, 1}));
  return emb;
}

namespace unet_detail {
using namespace torch::nn;
using namespace svd_blocks;

// diffusers Attention with to_q/to_k/to_v (no bias) and to_out.0. x: [N, L, C], context: [N, S, Dc]
struct AttentionImpl : Module {
  AttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads, int64_t head_dim) : heads(heads) {
    const int64_t inner = heads * head_dim;
    to_q = register_module("to_q", Linear(LinearOptions(query_dim, inner).bias(false)));
    to_k = register_module("to_k", Linear(LinearOptions(context_dim, inner).bias(false)));
    to_v = register_module("to_v", Linear(LinearOptions(context_dim, inner).bias(false)));
    to_out->push_back(Linear(inner, query_dim));
    register_module("to_out", to_out);
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context) {
    const auto& c = context.defined() ? context : x;
    return lora_forward(*to_out[0]->as<Linear>(),
                        multi_head_attention(lora_call(to_q, x), lora_call(to_k, c), lora_call(to_v, c), heads));
  }
  int64_t heads;
  Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  ModuleList to_out;
};

struct GegluImpl : Module {
  GegluImpl(int64_t in, int64_t out) { proj = register_module("proj", Linear(in, 2 * out)); }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = lora_call(proj, x).chunk(2, -1);
    return h[0] * torch::gelu(h[1]);
  }
  Linear proj{nullptr};
};

// FeedForward(dim, dim_out, "geglu"): net.0 = GEGLU(dim, 4 dim), net.1 dropout, net.2 Linear
struct FeedForwardImpl : Module {
  FeedForwardImpl(int64_t dim, int64_t dim_out) {
    net->push_back(std::make_shared<GegluImpl>(dim, 4 * dim));
    net->push_back(Dropout(0.0));
    net->push_back(Linear(4 * dim, dim_out));
    register_module("net", net);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return lora_forward(*net[2]->as<Linear>(), net[0]->as<GegluImpl>()->forward(x));
  }
  ModuleList net;
};

// Spatial block: self-attention, cross-attention, GEGLU feed-forward, pre-LayerNorm.
struct BasicTransformerBlockImpl : Module {
  BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim, int64_t context_dim) {
    norm1 = register_module("norm1", LayerNorm(LayerNormOptions({dim})));
    attn1 = register_module("attn1", std::make_shared<AttentionImpl>(dim, dim, heads, head_dim));
    norm2 = register_module("norm2", LayerNorm(LayerNormOptions({dim})));
    attn2 = register_module("attn2", std::make_shared<AttentionImpl>(dim, context_dim, heads, head_dim));
    norm3 = register_module("norm3", LayerNorm(LayerNormOptions({dim})));
    ff = register_module("ff", std::make_shared<FeedForwardImpl>(dim, dim));
  }
  // x: [B*T, h*w, C], context: [B*T, S, D]
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& context) {
    x = x + attn1->forward(norm1(x), {});
    x = x + attn2->forward(norm2(x), context);
    return x + ff->forward(norm3(x));
  }
  LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  std::shared_ptr<AttentionImpl> attn1, attn2;
  std::shared_ptr<FeedForwardImpl> ff;
};

// Temporal block: attention over frames at each spatial position.
struct TemporalBasicTransformerBlockImpl : Module {
  TemporalBasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim, int64_t context_dim) {
    norm_in = register_module("norm_in", LayerNorm(LayerNormOptions({dim})));
    ff_in = register_module("ff_in", std::make_shared<FeedForwardImpl>(dim, dim));
    norm1 = register_module("norm1", LayerNorm(LayerNormOptions({dim})));
    attn1 = register_module("attn1", std::make_shared<AttentionImpl>(dim, dim, heads, head_dim));
    norm2 = register_module("norm2", LayerNorm(LayerNormOptions({dim})));
    attn2 = register_module("attn2", std::make_shared<AttentionImpl>(dim, context_dim, heads, head_dim));
    norm3 = register_module("norm3", LayerNorm(LayerNormOptions({dim})));
    ff = register_module("ff", std::make_shared<FeedForwardImpl>(dim, dim));
  }
  // x: [B*T, L, C], context: [B*L, S, D]  ->  [B*T, L, C]
  torch::Tensor forward(const torch::Tensor& x, int64_t frames, const torch::Tensor& context) {
    const auto BT = x.size(0), L = x.size(1), C = x.size(2), B = BT / frames;
    auto h = x.reshape({B, frames, L, C}).permute({0, 2, 1, 3}).reshape({B * L, frames, C});
    h = h + ff_in->forward(norm_in(h));
    h = h + attn1->forward(norm1(h), {});
    h = h + attn2->forward(norm2(h), context);
    h = h + ff->forward(norm3(h));
    return h.reshape({B, L, frames, C}).permute({0, 2, 1, 3}).reshape({BT, L, C});
  }
  LayerNorm norm_in{nullptr}, norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  std::shared_ptr<FeedForwardImpl> ff_in, ff;
  std::shared_ptr<AttentionImpl> attn1, attn2;
};

struct TransformerSpatioTemporalModelImpl : Module {
  TransformerSpatioTemporalModelImpl(int64_t heads, int64_t head_dim, int64_t in, int64_t layers, int64_t context)
      : in_channels(in) {
    const int64_t inner = heads * head_dim;
    norm = register_module("norm", GroupNorm(GroupNormOptions(32, in).eps(1e-6)));
    proj_in = register_module("proj_in", Linear(in, inner));
    for (int64_t i = 0; i < layers; ++i) {
      transformer_blocks->push_back(std::make_shared<BasicTransformerBlockImpl>(inner, heads, head_dim, context));
      temporal_transformer_blocks->push_back(
          std::make_shared<TemporalBasicTransformerBlockImpl>(inner, heads, head_dim, context));
    }
    register_module("transformer_blocks", transformer_blocks);
    register_module("temporal_transformer_blocks", temporal_transformer_blocks);
    time_pos_embed = register_module("time_pos_embed", std::make_shared<TimestepEmbeddingImpl>(in, 4 * in, in));
    time_mixer = register_module("time_mixer", std::make_shared<AlphaBlenderImpl>());
    proj_out = register_module("proj_out", Linear(inner, in));
  }
  // x: [B*T, C, h, w], context: [B*T, S, D]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context, int64_t frames) {
    const auto BT = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), B = BT / frames;
    // Temporal cross-attention sees the first frame's context, broadcast to every position.
    auto first = context.reshape({B, frames, -1, context.size(-1)}).select(1, 0);  // [B, S, D]
    auto time_context = first.unsqueeze(1).expand({B, H * W, first.size(1), first.size(2)})
                            .reshape({B * H * W, first.size(1), first.size(2)});
    auto h = norm(x).permute({0, 2, 3, 1}).reshape({BT, H * W, C});
    h = lora_call(proj_in, h);
    auto frame_ids = torch::arange(frames, x.options().dtype(torch::kFloat32)).repeat({B});  // [B*T]
    auto emb = time_pos_embed->forward(timestep_features(frame_ids, in_channels).to(h.scalar_type())).unsqueeze(1);
    for (std::size_t i = 0; i < transformer_blocks->size(); ++i) {
      h = transformer_blocks[i]->as<BasicTransformerBlockImpl>()->forward(h, context);
      auto mix = temporal_transformer_blocks[i]->as<TemporalBasicTransformerBlockImpl>()->forward(h + emb, frames,
                                                                                                   time_context);
      h = time_mixer->forward(h, mix);
    }
    h = lora_call(proj_out, h).reshape({BT, H, W, C}).permute({0, 3, 1, 2});
    return h + x;
  }
  int64_t in_channels;
  GroupNorm norm{nullptr};
  Linear proj_in{nullptr}, proj_out{nullptr};
  ModuleList transformer_blocks, temporal_transformer_blocks;
  std::shared_ptr<TimestepEmbeddingImpl> time_pos_embed;
  std::shared_ptr<AlphaBlenderImpl> time_mixer;
};

struct DownsampleImpl : Module {
  explicit DownsampleImpl(int64_t c) { conv = register_module("conv", Conv2d(Conv2dOptions(c, c, 3).stride(2).padding(1))); }
  Conv2d conv{nullptr};
};

// One down, mid or up block: resnets, optional attentions, optional resampler.
struct BlockImpl : Module {
  ModuleList resnets, attentions, samplers;
  bool has_attn = false;
  torch::Tensor res(std::size_t i, const torch::Tensor& x, const torch::Tensor& temb, int64_t frames) {
    return resnets[i]->as<SpatioTemporalResBlockImpl>()->forward(x, temb, frames);
  }
  torch::Tensor attn(std::size_t i, const torch::Tensor& x, const torch::Tensor& ctx, int64_t frames) {
    return attentions[i]->as<TransformerSpatioTemporalModelImpl>()->forward(x, ctx, frames);
  }
};

}  // namespace unet_detail

using namespace unet_detail;

UNetSpatioTemporalConditionModelImpl::UNetSpatioTemporalConditionModelImpl(UNetSVDConfig c) : config_(std::move(c)) {
  const auto& ch = config_.block_out_channels;
  const int64_t n = static_cast<int64_t>(ch.size());
  const int64_t temb = ch[0] * 4;
  conv_in_ = register_module("conv_in", torch::nn::Conv2d(torch::nn::Conv2dOptions(config_.in_channels, ch[0], 3).padding(1)));
  time_embedding_ = register_module("time_embedding", std::make_shared<TimestepEmbeddingImpl>(ch[0], temb, temb));
  add_embedding_ = register_module(
      "add_embedding", std::make_shared<TimestepEmbeddingImpl>(config_.projection_class_embeddings_input_dim, temb, temb));

  auto attention = [&](int64_t channels, int64_t i) {
    const int64_t heads = config_.num_attention_heads[i];
    return std::make_shared<TransformerSpatioTemporalModelImpl>(heads, channels / heads, channels,
                                                                config_.transformer_layers_per_block[i],
                                                                config_.cross_attention_dim[i]);
  };
  int64_t out = ch[0];
  for (int64_t i = 0; i < n; ++i) {
    const int64_t in = out;
    out = ch[i];
    const auto& type = config_.down_block_types[i];
    if (type != "CrossAttnDownBlockSpatioTemporal" && type != "DownBlockSpatioTemporal")
      throw InputError(fmt::format("unet config: unsupported down block '{}'", type));
    auto b = std::make_shared<BlockImpl>();
    b->has_attn = type == "CrossAttnDownBlockSpatioTemporal";
    const double eps = b->has_attn ? 1e-6 : 1e-5;  // as diffusers builds them
    for (int64_t l = 0; l < config_.layers_per_block[i]; ++l) {
      b->resnets->push_back(std::make_shared<SpatioTemporalResBlockImpl>(l == 0 ? in : out, out, temb, eps));
      if (b->has_attn) b->attentions->push_back(attention(out, i));
    }
    b->register_module("resnets", b->resnets);
    if (b->has_attn) b->register_module("attentions", b->attentions);
    if (i < n - 1) {
      b->samplers->push_back(std::make_shared<DownsampleImpl>(out));
      b->register_module("downsamplers", b->samplers);
    }
    down_blocks_->push_back(b);
  }
  register_module("down_blocks", down_blocks_);

  auto mid = std::make_shared<BlockImpl>();
  mid->has_attn = true;
  for (int l = 0; l < 2; ++l)  // resnet, (attention, resnet)
    mid->resnets->push_back(std::make_shared<SpatioTemporalResBlockImpl>(ch.back(), ch.back(), temb, 1e-5));
  {
    const int64_t heads = config_.num_attention_heads.back();
    mid->attentions->push_back(std::make_shared<TransformerSpatioTemporalModelImpl>(
        heads, ch.back() / heads, ch.back(), config_.transformer_layers_per_block.back(),
        config_.cross_attention_dim.back()));
  }
  mid->register_module("attentions", mid->attentions);
  mid->register_module("resnets", mid->resnets);
  mid_block_ = register_module("mid_block", mid);

  std::vector<int64_t> rch(ch.rbegin(), ch.rend());
  out = rch[0];
  for (int64_t i = 0; i < n; ++i) {
    const int64_t prev = out;
    out = rch[i];
    const int64_t in = rch[std::min(i + 1, n - 1)];
    const int64_t bi = n - 1 - i;  // per-block settings are listed for the down path
    const auto& type = config_.up_block_types[i];
    if (type != "CrossAttnUpBlockSpatioTemporal" && type != "UpBlockSpatioTemporal")
      throw InputError(fmt::format("unet config: unsupported up block '{}'", type));
    auto b = std::make_shared<BlockImpl>();
    b->has_attn = type == "CrossAttnUpBlockSpatioTemporal";
    const int64_t layers = config_.layers_per_block[bi] + 1;
    for (int64_t l = 0; l < layers; ++l) {
      const int64_t skip = (l == layers - 1) ? in : out;
      const int64_t res_in = (l == 0) ? prev : out;
      b->resnets->push_back(std::make_shared<SpatioTemporalResBlockImpl>(res_in + skip, out, temb, 1e-6));
      if (b->has_attn) b->attentions->push_back(attention(out, bi));
    }
    b->register_module("resnets", b->resnets);
    if (b->has_attn) b->register_module("attentions", b->attentions);
    if (i < n - 1) {
      b->samplers->push_back(std::make_shared<UpsampleImpl>(out));
      b->register_module("upsamplers", b->samplers);
    }
    up_blocks_->push_back(b);
  }
  register_module("up_blocks", up_blocks_);
  conv_norm_out_ = register_module("conv_norm_out", torch::nn::GroupNorm(torch::nn::GroupNormOptions(32, ch[0]).eps(1e-5)));
  conv_out_ = register_module("conv_out", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch[0], config_.out_channels, 3).padding(1)));
}

UNetSpatioTemporalConditionModelImpl::Encoded UNetSpatioTemporalConditionModelImpl::encode(
    const torch::Tensor& sample, const torch::Tensor& timestep, const torch::Tensor& encoder_hidden_states,
    const torch::Tensor& added_time_ids, std::vector<torch::Tensor>* skips) {
  const auto B = sample.size(0), T = sample.size(1);
  const auto& ch = config_.block_out_channels;
  const auto dtype = sample.scalar_type();
  Encoded e;
  // Time embedding [B, E] from c_noise and the added time ids.
  auto t = timestep.dim() == 0 ? timestep.reshape({1}) : timestep;
  t = t.to(sample.device()).expand({B});
  auto emb = time_embedding_->forward(timestep_features(t, ch[0]).to(dtype));
  auto ids = timestep_features(added_time_ids.flatten(), config_.addition_time_embed_dim).reshape({B, -1}).to(dtype);
  emb = emb + add_embedding_->forward(ids);
  e.emb = emb.repeat_interleave(T, 0);                                // [B*T, E]
  e.ctx = encoder_hidden_states.repeat_interleave(T, 0);              // [B*T, S, D]

  auto h = lora_call(conv_in_, sample.flatten(0, 1));                            // [B*T, C0, h, w]
  if (skips) skips->push_back(h);
  for (const auto& m : *down_blocks_) {
    auto* b = m->as<BlockImpl>();
    for (std::size_t l = 0; l < b->resnets->size(); ++l) {
      h = b->res(l, h, e.emb, T);
      if (b->has_attn) h = b->attn(l, h, e.ctx, T);
      if (skips) skips->push_back(h);
    }
    if (!b->samplers->is_empty()) {
      h = lora_call(b->samplers[0]->as<DownsampleImpl>()->conv, h);
      if (skips) skips->push_back(h);
    }
    e.blocks.push_back(h);
  }
  return e;
}

std::vector<torch::Tensor> UNetSpatioTemporalConditionModelImpl::down_block_outputs(
    const torch::Tensor& sample, const torch::Tensor& timestep, const torch::Tensor& encoder_hidden_states,
    const torch::Tensor& added_time_ids) {
  return encode(sample, timestep, encoder_hidden_states, added_time_ids, nullptr).blocks;
}

torch::Tensor UNetSpatioTemporalConditionModelImpl::forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                                                            const torch::Tensor& encoder_hidden_states,
                                                            const torch::Tensor& added_time_ids) {
  const auto B = sample.size(0), T = sample.size(1);
  clip_passes_ += B;
  std::vector<torch::Tensor> skips;
  auto e = encode(sample, timestep, encoder_hidden_states, added_time_ids, &skips);
  auto h = e.blocks.back();
  const auto& emb = e.emb;
  const auto& ctx = e.ctx;
  auto* mid = mid_block_->as<BlockImpl>();
  h = mid->res(0, h, emb, T);
  for (std::size_t l = 0; l < mid->attentions->size(); ++l) {
    h = mid->attn(l, h, ctx, T);
    h = mid->res(l + 1, h, emb, T);
  }
  for (const auto& m : *up_blocks_) {
    auto* b = m->as<BlockImpl>();
    for (std::size_t l = 0; l < b->resnets->size(); ++l) {
      h = torch::cat({h, skips.back()}, 1);
      skips.pop_back();
      h = b->res(l, h, emb, T);
      if (b->has_attn) h = b->attn(l, h, ctx, T);
    }
    if (!b->samplers->is_empty()) {
      // Upsample to the matching skip's size, which handles odd latent sizes.
      std::optional<std::vector<int64_t>> size;
      if (!skips.empty()) size = std::vector<int64_t>{skips.back().size(2), skips.back().size(3)};
      h = b->samplers[0]->as<UpsampleImpl>()->forward(h, size);
    }
  }
  h = lora_call(conv_out_, torch::silu(conv_norm_out_(h)));
  return h.reshape({B, T, h.size(1), h.size(2), h.size(3)});
}

UNetSpatioTemporalConditionModel load_unet_svd(const std::filesystem::path& folder) {
  return load_pretrained<UNetSpatioTemporalConditionModel, UNetSVDConfig>(folder);
}

}  // namespace osv
