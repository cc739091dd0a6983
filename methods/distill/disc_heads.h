// Discriminator heads shared by OSV's latent discriminator and SF-V's UNet-encoder
// discriminator: a spatial head on [N, C, H, W] and a temporal head on [N, C, T], each
// Conv -> ResBlock -> Conv to one logit channel (LeakyReLU 0.2). With cond_dim > 0 a projected
// conditioning vector [N, cond_dim] is added to the hidden features after the first conv.
#pragma once

#include <torch/torch.h>

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

}  // namespace osv::disc_heads
