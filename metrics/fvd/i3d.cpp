#include "metrics/fvd/i3d.h"

#include <fmt/format.h>

#include "dist/dist.h"
#include "models/safetensors.h"
#include "models/weights.h"

namespace osv {
namespace F = torch::nn::functional;

std::pair<int64_t, int64_t> tf_same_padding(int64_t s, int64_t k, int64_t st) {
  const int64_t pad = s % st == 0 ? std::max<int64_t>(k - st, 0) : std::max<int64_t>(k - s % st, 0);
  return {pad / 2, pad - pad / 2};
}

namespace i3d_detail {
using namespace torch::nn;

// Zero padding to TF "SAME" for a 3-D kernel/stride, computed from the input size.
torch::Tensor pad_same(const torch::Tensor& x, const std::array<int64_t, 3>& k, const std::array<int64_t, 3>& s) {
  const auto [tf, tb] = tf_same_padding(x.size(2), k[0], s[0]);
  const auto [hf, hb] = tf_same_padding(x.size(3), k[1], s[1]);
  const auto [wf, wb] = tf_same_padding(x.size(4), k[2], s[2]);
  return F::pad(x, F::PadFuncOptions({wf, wb, hf, hb, tf, tb}));
}

// Training-mode batch norm over a global batch split evenly across the ranks (equal rows per
// rank): the statistics are summed in float64 across the ranks, forward and backward. Inputs x
// [B, C, ...], weight and bias [C]; the running statistics (momentum 1, as in calibration) become
// the global batch's mean and unbiased variance.
struct GlobalBatchNorm : torch::autograd::Function<GlobalBatchNorm> {
  static std::vector<int64_t> reduce_dims(const torch::Tensor& x) {
    std::vector<int64_t> d{0};
    for (int64_t i = 2; i < x.dim(); ++i) d.push_back(i);
    return d;
  }
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias, torch::Tensor running_mean,
                               torch::Tensor running_var, double eps) {
    const auto dims = reduce_dims(x);
    std::vector<int64_t> shape(static_cast<std::size_t>(x.dim()), 1);
    shape[1] = x.size(1);
    const auto x64 = x.to(torch::kFloat64);
    auto s = x64.sum(dims), ss = x64.square().sum(dims);  // [C]
    dist::all_reduce_mean({s, ss});                      // the mean over ranks of each rank's sums
    const double n_local = static_cast<double>(x.numel() / std::max<int64_t>(x.size(1), 1));
    const auto mean = s / n_local;                        // Σ_all x / N, N = n_local x world
    const auto var = (ss / n_local - mean.square()).clamp_min(0.0);
    const auto invstd = (var + eps).rsqrt();
    const auto xhat = ((x64 - mean.view(shape)) * invstd.view(shape)).to(x.scalar_type());
    {
      const double n = n_local * dist::world();
      running_mean.copy_(mean);
      running_var.copy_(n > 1 ? var * (n / (n - 1)) : var);
    }
    ctx->save_for_backward({xhat, invstd, weight});
    ctx->saved_data["n_local"] = n_local;
    return xhat * weight.view(shape) + bias.view(shape);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& xhat = saved[0];
    const auto& invstd = saved[1];
    const auto& weight = saved[2];
    const double n_local = ctx->saved_data["n_local"].toDouble();
    const auto dy = grads[0];
    const auto dims = reduce_dims(dy);
    std::vector<int64_t> shape(static_cast<std::size_t>(dy.dim()), 1);
    shape[1] = dy.size(1);
    const auto dy64 = dy.to(torch::kFloat64), xhat64 = xhat.to(torch::kFloat64);
    const auto sdy = dy64.sum(dims), sdyx = (dy64 * xhat64).sum(dims);  // this rank's, [C]
    // γ and β: this rank's sums (the gradient all-reduce averages them like every parameter's).
    const auto dweight = sdyx.to(weight.scalar_type()), dbias = sdy.to(weight.scalar_type());
    auto gsdy = sdy.clone(), gsdyx = sdyx.clone();
    dist::all_reduce_mean({gsdy, gsdyx});
    const auto m_dy = (gsdy / n_local).view(shape), m_dyx = (gsdyx / n_local).view(shape);
    const auto dx = ((dy64 - m_dy - xhat64 * m_dyx) * (invstd * weight.to(torch::kFloat64)).view(shape))
                        .to(dy.scalar_type());
    return {dx, dweight, dbias, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace i3d_detail

torch::Tensor global_batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                torch::Tensor running_mean, torch::Tensor running_var, double eps) {
  return i3d_detail::GlobalBatchNorm::apply(x, weight, bias, running_mean, running_var, eps);
}

namespace i3d_detail {
using namespace torch::nn;

// Batch norm with exactly the port's four tensors (no num_batches_tracked), eval mode.
struct BatchNormImpl : Module {
  BatchNormImpl(int64_t c, double eps) : eps(eps) {
    weight = register_parameter("weight", torch::ones({c}));
    bias = register_parameter("bias", torch::zeros({c}));
    running_mean = register_buffer("running_mean", torch::zeros({c}));
    running_var = register_buffer("running_var", torch::ones({c}));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    if (calibrating && across_ranks && dist::world() > 1 && torch::GradMode::is_enabled())
      return GlobalBatchNorm::apply(x, weight, bias, running_mean, running_var, eps);
    // Calibrating: momentum 1 sets the running statistics to this batch's.
    return torch::batch_norm(x, weight, bias, running_mean, running_var, /*training=*/calibrating,
                             /*momentum=*/1.0, eps, true);
  }
  double eps;
  bool calibrating = false;
  bool across_ranks = false;  // calibrating on a global batch split across the ranks
  torch::Tensor weight, bias, running_mean, running_var;
};

struct Unit3DImpl : Module {
  Unit3DImpl(int64_t in, int64_t out, std::array<int64_t, 3> k, std::array<int64_t, 3> s, double eps,
             bool bn_relu = true)
      : k(k), s(s), bn_relu(bn_relu) {
    conv3d = register_module(
        "conv3d", Conv3d(Conv3dOptions(in, out, {k[0], k[1], k[2]}).stride({s[0], s[1], s[2]}).bias(!bn_relu)));
    if (bn_relu) bn = register_module("bn", std::make_shared<BatchNormImpl>(out, eps));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = conv3d(pad_same(x, k, s));
    return bn_relu ? torch::relu(bn->forward(h)) : h;
  }
  std::array<int64_t, 3> k, s;
  bool bn_relu;
  Conv3d conv3d{nullptr};
  std::shared_ptr<BatchNormImpl> bn;
};

struct MaxPoolSameImpl : Module {
  MaxPoolSameImpl(std::array<int64_t, 3> k, std::array<int64_t, 3> s) : k(k), s(s) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return F::max_pool3d(pad_same(x, k, s), F::MaxPool3dFuncOptions({k[0], k[1], k[2]}).stride({s[0], s[1], s[2]}));
  }
  std::array<int64_t, 3> k, s;
};

struct InceptionImpl : Module {
  InceptionImpl(int64_t in, const std::array<int64_t, 6>& o, double eps) {
    b0 = register_module("b0", std::make_shared<Unit3DImpl>(in, o[0], std::array<int64_t, 3>{1, 1, 1}, std::array<int64_t, 3>{1, 1, 1}, eps));
    b1a = register_module("b1a", std::make_shared<Unit3DImpl>(in, o[1], std::array<int64_t, 3>{1, 1, 1}, std::array<int64_t, 3>{1, 1, 1}, eps));
    b1b = register_module("b1b", std::make_shared<Unit3DImpl>(o[1], o[2], std::array<int64_t, 3>{3, 3, 3}, std::array<int64_t, 3>{1, 1, 1}, eps));
    b2a = register_module("b2a", std::make_shared<Unit3DImpl>(in, o[3], std::array<int64_t, 3>{1, 1, 1}, std::array<int64_t, 3>{1, 1, 1}, eps));
    b2b = register_module("b2b", std::make_shared<Unit3DImpl>(o[3], o[4], std::array<int64_t, 3>{3, 3, 3}, std::array<int64_t, 3>{1, 1, 1}, eps));
    b3a = std::make_shared<MaxPoolSameImpl>(std::array<int64_t, 3>{3, 3, 3}, std::array<int64_t, 3>{1, 1, 1});
    b3b = register_module("b3b", std::make_shared<Unit3DImpl>(in, o[5], std::array<int64_t, 3>{1, 1, 1}, std::array<int64_t, 3>{1, 1, 1}, eps));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::cat({b0->forward(x), b1b->forward(b1a->forward(x)), b2b->forward(b2a->forward(x)),
                       b3b->forward(b3a->forward(x))},
                      1);
  }
  std::shared_ptr<Unit3DImpl> b0, b1a, b1b, b2a, b2b, b3b;
  std::shared_ptr<MaxPoolSameImpl> b3a;
};

}  // namespace i3d_detail

using namespace i3d_detail;

InceptionI3dImpl::InceptionI3dImpl(I3dConfig config) : config_(config) {
  const double eps = config_.bn_eps;
  using A = std::array<int64_t, 3>;
  auto unit = [&](const char* name, int64_t in, int64_t out, A k, A s) {
    auto m = register_module(name, std::make_shared<Unit3DImpl>(in, out, k, s, eps));
    layers_.emplace_back(name, m);
  };
  auto pool = [&](const char* name, A k, A s) { layers_.emplace_back(name, std::make_shared<MaxPoolSameImpl>(k, s)); };
  auto mixed = [&](const char* name, int64_t in, std::array<int64_t, 6> o) {
    auto m = register_module(name, std::make_shared<InceptionImpl>(in, o, eps));
    layers_.emplace_back(name, m);
  };
  unit("Conv3d_1a_7x7", config_.in_channels, 64, {7, 7, 7}, {2, 2, 2});
  pool("MaxPool3d_2a_3x3", {1, 3, 3}, {1, 2, 2});
  unit("Conv3d_2b_1x1", 64, 64, {1, 1, 1}, {1, 1, 1});
  unit("Conv3d_2c_3x3", 64, 192, {3, 3, 3}, {1, 1, 1});
  pool("MaxPool3d_3a_3x3", {1, 3, 3}, {1, 2, 2});
  mixed("Mixed_3b", 192, {64, 96, 128, 16, 32, 32});
  mixed("Mixed_3c", 256, {128, 128, 192, 32, 96, 64});
  pool("MaxPool3d_4a_3x3", {3, 3, 3}, {2, 2, 2});
  mixed("Mixed_4b", 480, {192, 96, 208, 16, 48, 64});
  mixed("Mixed_4c", 512, {160, 112, 224, 24, 64, 64});
  mixed("Mixed_4d", 512, {128, 128, 256, 24, 64, 64});
  mixed("Mixed_4e", 512, {112, 144, 288, 32, 64, 64});
  mixed("Mixed_4f", 528, {256, 160, 320, 32, 128, 128});
  pool("MaxPool3d_5a_2x2", {2, 2, 2}, {2, 2, 2});
  mixed("Mixed_5b", 832, {256, 160, 320, 32, 128, 128});
  mixed("Mixed_5c", 832, {384, 192, 384, 48, 128, 128});
  logits_ = register_module("logits", std::make_shared<Unit3DImpl>(1024, config_.num_classes, A{1, 1, 1}, A{1, 1, 1},
                                                                   eps, /*bn_relu=*/false));
}

I3dOutput InceptionI3dImpl::forward(const torch::Tensor& x) {
  auto h = x;
  for (auto& [name, m] : layers_) {
    if (auto* u = dynamic_cast<Unit3DImpl*>(m.get())) h = u->forward(h);
    else if (auto* p = dynamic_cast<MaxPoolSameImpl*>(m.get())) h = p->forward(h);
    else h = dynamic_cast<InceptionImpl*>(m.get())->forward(h);
  }
  // [B, 1024, T', H', W']: the port's AvgPool3d([2, 7, 7], stride 1), shrunk for small inputs.
  const std::vector<int64_t> k{std::min<int64_t>(2, h.size(2)), std::min<int64_t>(7, h.size(3)),
                               std::min<int64_t>(7, h.size(4))};
  auto pooled = F::avg_pool3d(h, F::AvgPool3dFuncOptions(k).stride(1));  // [B, 1024, T'', h'', w'']
  auto logits = logits_->forward(pooled);                                // [B, 400, T'', h'', w'']
  I3dOutput out;
  out.logits = logits.mean({2, 3, 4});
  out.pooled = pooled.mean({2, 3, 4});
  return out;
}

void InceptionI3dImpl::set_calibrating(bool on, bool across_ranks) {
  for (auto& m : modules(/*include_self=*/false))
    if (auto* bn = dynamic_cast<BatchNormImpl*>(m.get())) {
      bn->calibrating = on;
      bn->across_ranks = on && across_ranks;
    }
}

void InceptionI3dImpl::calibrate(const torch::Tensor& x) {
  set_calibrating(true);
  forward(x);
  set_calibrating(false);
}

InceptionI3d load_i3d(const std::filesystem::path& weights, const I3dConfig& config) {
  InceptionI3d m(config);
  load_weights(*m, SafetensorsCheckpoint::open(weights));
  m->eval();
  return m;
}

}  // namespace osv
