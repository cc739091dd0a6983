// Discriminator heads shared by OSV's latent discriminator and SF-V's UNet-encoder
// discriminator: a spatial head on [N, C, H, W] and a temporal head on [N, C, T], each
// Conv -> ResBlock -> Conv to one logit channel (LeakyReLU 0.2). With cond_dim > 0 a projected
// conditioning vector [N, cond_dim] is added to the hidden features after the first conv.
#pragma once

#include <torch/torch.h>

#include <cmath>

namespace osv::disc_heads {

inline torch::Tensor lrelu(const torch::Tensor& x) { return torch::leaky_relu(x, 0.2); }

template <typename Conv, typename ConvOptions>
struct ResBlockImpl : torch::nn::Module {
  explicit ResBlockImpl(int64_t c) {
    conv1 = register_module("conv1", Conv(ConvOptions(c, c, 3).padding(1)));
    conv2 = register_module("conv2", Conv(ConvOptions(c, c, 3).padding(1)));
  }
  torch::Tensor forward(const torch::Tensor& x) { return x + conv2(lrelu(conv1(lrelu(x)))); }
  Conv conv1{nullptr}, conv2{nullptr};
};

// Conv -> (+ projected condition) -> ResBlock -> Conv to one logit channel.
template <typename Conv, typename ConvOptions>
struct HeadImpl : torch::nn::Module {
  HeadImpl(int64_t in, int64_t c, int64_t cond_dim = 0) {
    conv_in = register_module("conv_in", Conv(ConvOptions(in, c, 3).padding(1)));
    block = register_module("block", std::make_shared<ResBlockImpl<Conv, ConvOptions>>(c));
    conv_out = register_module("conv_out", Conv(ConvOptions(c, 1, 1)));
    if (cond_dim > 0) cond_proj = register_module("cond_proj", torch::nn::Linear(cond_dim, c));
  }
  // x: [N, in, ...spatial] (cond: [N, cond_dim]) -> [N, 1, ...spatial]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cond = {}) {
    auto h = conv_in(x);
    if (cond_proj) {
      auto p = cond_proj(cond);  // [N, c]
      while (p.dim() < h.dim()) p = p.unsqueeze(-1);
      h = h + p;
    }
    return conv_out(lrelu(block->forward(h)));
  }
  Conv conv_in{nullptr}, conv_out{nullptr};
  std::shared_ptr<ResBlockImpl<Conv, ConvOptions>> block;
  torch::nn::Linear cond_proj{nullptr};
};

using SpatialHeadImpl = HeadImpl<torch::nn::Conv2d, torch::nn::Conv2dOptions>;
using TemporalHeadImpl = HeadImpl<torch::nn::Conv1d, torch::nn::Conv1dOptions>;

// --- StyleGAN-T's head blocks (autonomousvision/stylegan-t, networks/discriminator.py: DiscHead,
// make_block, BatchNormLocal, SpectralConv1d; networks/shared.py: ResidualBlock), in the 2-D
// (spatial) and 1-D (temporal) shapes OSV's heads have.

// A convolution whose weight is divided by its largest singular value, estimated by one power
// iteration per training forward (torch.nn.utils.spectral_norm with n_power_iterations=1, eps 1e-12;
// u and v are buffers, kept in checkpoints). Zero padding k / 2, stride 1.
template <int Dim>
struct SpectralConvImpl : torch::nn::Module {
  SpectralConvImpl(int64_t in, int64_t out, int64_t k) : pad(k / 2) {
    // The weight and bias start as torch's ConvNd's do (kaiming-uniform a = sqrt(5), uniform bias).
    torch::Tensor w0, b0;
    if constexpr (Dim == 2) {
      torch::nn::Conv2d c(torch::nn::Conv2dOptions(in, out, k));
      w0 = c->weight.detach().clone(), b0 = c->bias.detach().clone();
    } else {
      torch::nn::Conv1d c(torch::nn::Conv1dOptions(in, out, k));
      w0 = c->weight.detach().clone(), b0 = c->bias.detach().clone();
    }
    weight_orig = register_parameter("weight_orig", w0);
    bias = register_parameter("bias", b0);
    namespace F = torch::nn::functional;
    const auto no = F::NormalizeFuncOptions().dim(0).eps(1e-12);
    weight_u = register_buffer("weight_u", F::normalize(torch::randn({out}), no));
    weight_v = register_buffer("weight_v", F::normalize(torch::randn({w0.numel() / out}), no));
  }
  // x: [N, in, ...] -> [N, out, ...]
  torch::Tensor forward(const torch::Tensor& x) {
    namespace F = torch::nn::functional;
    const auto no = F::NormalizeFuncOptions().dim(0).eps(1e-12);
    auto w = weight_orig.reshape({weight_orig.size(0), -1});  // [out, in k^Dim]
    if (is_training()) {
      torch::NoGradGuard g;
      weight_v.copy_(F::normalize(torch::mv(w.t(), weight_u), no));
      weight_u.copy_(F::normalize(torch::mv(w, weight_v), no));
    }
    const auto sigma = torch::dot(weight_u.clone(), torch::mv(w, weight_v.clone()));
    const auto wn = weight_orig / sigma;
    if constexpr (Dim == 2) return torch::conv2d(x, wn, bias, 1, pad);
    else return torch::conv1d(x, wn, bias, 1, pad);
  }
  int64_t pad;
  torch::Tensor weight_orig, bias, weight_u, weight_v;
};

// StyleGAN-T's BatchNormLocal: per channel over a group of samples and every position, no running
// statistics (the same in training and evaluation), affine. StyleGAN-T groups 8 images of the
// batch; here a group is one clip's samples (its frames for a spatial head, its token sequences for
// a temporal head: `group` rows of x), so a clip's logits never depend on the other clips of its
// batch or on how a data-parallel run splits the batch (ledger D9).
struct BatchNormLocalImpl : torch::nn::Module {
  explicit BatchNormLocalImpl(int64_t c) {
    weight = register_parameter("weight", torch::ones({c}));
    bias = register_parameter("bias", torch::zeros({c}));
  }
  // x: [N, C, ...], N a multiple of group -> same
  torch::Tensor forward(const torch::Tensor& x, int64_t group) {
    const int64_t N = x.size(0), C = x.size(1);
    TORCH_CHECK(group > 0 && N % group == 0, "BatchNormLocal: ", N, " samples are not groups of ", group);
    auto h = x.reshape({N / group, group, C, -1});
    const auto mean = h.mean({1, 3}, /*keepdim=*/true);
    const auto var = h.var({1, 3}, /*unbiased=*/false, /*keepdim=*/true);
    h = (h - mean) / torch::sqrt(var + 1e-5);
    h = h * weight.view({1, 1, C, 1}) + bias.view({1, 1, C, 1});
    return h.reshape(x.sizes());
  }
  torch::Tensor weight, bias;
};

// DiscHead's shape with OSV's kernel sizes: block(in -> c, k 3) -> residual block(c, k 3) with
// (x + f(x)) / sqrt(2) -> spectral conv to one logit channel (k 1); a block is spectral conv ->
// BatchNormLocal -> LeakyReLU 0.2. StyleGAN-T's 1-D heads over the flattened tokens use k 1 then 9.
template <int Dim>
struct StyleGanTHeadImpl : torch::nn::Module {
  StyleGanTHeadImpl(int64_t in, int64_t c) {
    conv_in = register_module("conv_in", std::make_shared<SpectralConvImpl<Dim>>(in, c, 3));
    norm_in = register_module("norm_in", std::make_shared<BatchNormLocalImpl>(c));
    conv_res = register_module("conv_res", std::make_shared<SpectralConvImpl<Dim>>(c, c, 3));
    norm_res = register_module("norm_res", std::make_shared<BatchNormLocalImpl>(c));
    conv_out = register_module("conv_out", std::make_shared<SpectralConvImpl<Dim>>(c, 1, 1));
  }
  // x: [N, in, ...spatial], N = clips x group (one clip's rows adjacent) -> [N, 1, ...spatial]
  torch::Tensor forward(const torch::Tensor& x, int64_t group) {
    auto h = lrelu(norm_in->forward(conv_in->forward(x), group));
    h = (h + lrelu(norm_res->forward(conv_res->forward(h), group))) / std::sqrt(2.0);
    return conv_out->forward(h);
  }
  std::shared_ptr<SpectralConvImpl<Dim>> conv_in, conv_res, conv_out;
  std::shared_ptr<BatchNormLocalImpl> norm_in, norm_res;
};

using StyleGanTSpatialHeadImpl = StyleGanTHeadImpl<2>;
using StyleGanTTemporalHeadImpl = StyleGanTHeadImpl<1>;

}  // namespace osv::disc_heads
