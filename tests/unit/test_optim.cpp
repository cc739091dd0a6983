// The fused optimiser tail (methods/api/optim.h) against the stock libtorch path it replaces.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <type_traits>

#include "methods/api/checkpoint.h"
#include "methods/api/optim.h"

namespace osv {
namespace {

// Parameters of a few shapes (a conv kernel, a matrix, a bias, a scalar), seeded.
std::vector<torch::Tensor> make_params(uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> p;
  for (const auto& shape : std::vector<std::vector<int64_t>>{{8, 4, 3, 3}, {33, 17}, {17}, {1}})
    p.push_back(torch::randn(shape).requires_grad_(true));
  return p;
}

std::vector<torch::Tensor> clones(const std::vector<torch::Tensor>& v) {
  std::vector<torch::Tensor> out;
  for (const auto& t : v) out.push_back(t.detach().clone().requires_grad_(true));
  return out;
}

void set_grads(std::vector<torch::Tensor>& p, int step, double scale = 1.0) {
  torch::manual_seed(1000 + step);
  for (auto& t : p) t.mutable_grad() = torch::randn(t.sizes()) * scale;
}

double max_abs_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, (a[i] - b[i]).abs().max().item<double>());
  return d;
}

// Adam and AdamW, with and without weight decay, other betas: the fused step follows
// torch::optim's step to float rounding over 6 steps (lr 1e-2: a wrong bias correction, beta or
// decay moves the parameters by ~1e-3 and more), and a stock step after the fused ones continues
// from the same state.
template <class Opt, class Options>
void expect_same_as_stock(const Options& options) {
  auto ref = make_params(1), fused = clones(ref);
  Opt a(ref, options), b(fused, options);
  for (int s = 0; s < 6; ++s) {
    set_grads(ref, s);
    set_grads(fused, s);
    a.step();
    adam_step(b);
  }
  EXPECT_LT(max_abs_diff(ref, fused), 1e-6);
  EXPECT_GT(max_abs_diff(ref, make_params(1)), 1e-2);  // the steps moved the parameters
  set_grads(ref, 6);
  set_grads(fused, 6);
  a.step();
  b.step();  // stock step on the state adam_step kept
  EXPECT_LT(max_abs_diff(ref, fused), 1e-6);
  using State = std::conditional_t<std::is_same_v<Opt, torch::optim::AdamW>, torch::optim::AdamWParamState,
                                   torch::optim::AdamParamState>;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const auto& sa = static_cast<const State&>(*a.state().at(ref[i].unsafeGetTensorImpl()));
    const auto& sb = static_cast<const State&>(*b.state().at(fused[i].unsafeGetTensorImpl()));
    EXPECT_EQ(sa.step(), 7);
    EXPECT_EQ(sb.step(), 7);
  }
  CheckpointWriter wa, wb;  // the checkpointed state: same names, same tensors
  wa.optimizer("o", a);
  wb.optimizer("o", b);
  ASSERT_EQ(wa.entries().size(), wb.entries().size());
  for (std::size_t i = 0; i < wa.entries().size(); ++i) {
    EXPECT_EQ(wa.entries()[i].first, wb.entries()[i].first);
    EXPECT_TRUE(torch::allclose(wa.entries()[i].second, wb.entries()[i].second, 1e-5, 1e-7)) << wa.entries()[i].first;
  }
}

TEST(Optim, FusedAdamFollowsTheStockStep) {
  expect_same_as_stock<torch::optim::Adam>(torch::optim::AdamOptions(1e-2));
  expect_same_as_stock<torch::optim::Adam>(torch::optim::AdamOptions(1e-2).betas({0.5, 0.999}).weight_decay(0.1));
  expect_same_as_stock<torch::optim::AdamW>(torch::optim::AdamWOptions(1e-2).weight_decay(0.05));
  expect_same_as_stock<torch::optim::AdamW>(torch::optim::AdamWOptions(1e-2).weight_decay(0.0).eps(1e-6));
}

// eps matters only where sqrt(v) is about eps: gradients of 1e-6 with eps 1e-6 (a misplaced or
// dropped eps moves the parameters by ~lr).
TEST(Optim, FusedAdamFollowsTheStockStepWhereEpsMatters) {
  for (const double eps : {1e-6, 1e-8}) {
    auto ref = make_params(6), fused = clones(ref);
    torch::optim::Adam a(ref, torch::optim::AdamOptions(1e-2).eps(eps));
    torch::optim::Adam b(fused, torch::optim::AdamOptions(1e-2).eps(eps));
    for (int s = 0; s < 4; ++s) {
      set_grads(ref, s, 1e-6);
      set_grads(fused, s, 1e-6);
      a.step();
      adam_step(b);
    }
    EXPECT_LT(max_abs_diff(ref, fused), 1e-6) << eps;
  }
}

// Two groups with their own lr and decay, and parameters whose step counts differ inside a group
// (one had no gradient at the first step): each follows the stock step.
TEST(Optim, FusedAdamKeepsEachGroupsOptionsAndEachParametersCount) {
  auto ref = make_params(7), fused = clones(ref);
  auto groups = [](std::vector<torch::Tensor>& p) {
    std::vector<torch::optim::OptimizerParamGroup> g;
    g.emplace_back(std::vector<torch::Tensor>{p[0], p[1]}, std::make_unique<torch::optim::AdamOptions>(1e-2));
    g.emplace_back(std::vector<torch::Tensor>{p[2], p[3]},
                   std::make_unique<torch::optim::AdamOptions>(torch::optim::AdamOptions(3e-2).weight_decay(0.2)));
    return g;
  };
  torch::optim::Adam a(groups(ref)), b(groups(fused));
  for (int s = 0; s < 5; ++s) {
    set_grads(ref, s);
    set_grads(fused, s);
    if (s == 0) {
      ref[1].mutable_grad() = torch::Tensor();
      fused[1].mutable_grad() = torch::Tensor();
      ref[2].mutable_grad() = torch::Tensor();
      fused[2].mutable_grad() = torch::Tensor();
    }
    a.step();
    adam_step(b);
  }
  EXPECT_LT(max_abs_diff(ref, fused), 1e-6);
  const auto& s1 = static_cast<const torch::optim::AdamParamState&>(*b.state().at(fused[1].unsafeGetTensorImpl()));
  const auto& s0 = static_cast<const torch::optim::AdamParamState&>(*b.state().at(fused[0].unsafeGetTensorImpl()));
  EXPECT_EQ(s0.step(), 5);
  EXPECT_EQ(s1.step(), 4);
}

TEST(Optim, AdamStepSkipsParametersWithoutAGradientAndRefusesOtherOptimisers) {
  auto p = make_params(2);
  const auto before = p[2].detach().clone();
  torch::optim::Adam opt(p, torch::optim::AdamOptions(1e-2));
  set_grads(p, 0);
  p[2].mutable_grad() = torch::Tensor();
  adam_step(opt);
  EXPECT_TRUE(torch::equal(p[2].detach(), before));
  EXPECT_EQ(opt.state().count(p[2].unsafeGetTensorImpl()), 0u);
  torch::optim::SGD sgd(p, torch::optim::SGDOptions(0.1));
  EXPECT_THROW(adam_step(sgd), std::logic_error);
  torch::optim::Adam ams(p, torch::optim::AdamOptions(1e-2).amsgrad(true));
  EXPECT_THROW(adam_step(ams), std::logic_error);
}

// Hand-computed: gradients (3) and (4, 0) have norm 5; clipping to 1 scales them by 1 / (5 + 1e-6).
TEST(Optim, GradNormAndClipByHand) {
  std::vector<torch::Tensor> p = {torch::zeros({1}).requires_grad_(true), torch::zeros({2}).requires_grad_(true),
                                  torch::zeros({3}).requires_grad_(true)};
  p[0].mutable_grad() = torch::tensor({3.0f});
  p[1].mutable_grad() = torch::tensor({4.0f, 0.0f});
  EXPECT_DOUBLE_EQ(grad_norm(p), 5.0);
  clip_grads(p, grad_norm_tensor(p), 1.0);
  EXPECT_NEAR(p[0].grad().item<double>(), 3.0 / (5.0 + 1e-6), 1e-7);
  EXPECT_NEAR(p[1].grad()[0].item<double>(), 4.0 / (5.0 + 1e-6), 1e-7);
  EXPECT_EQ(grad_norm({}), 0.0);
}

// On random gradients: the norm equals the double-precision sum of squares to float rounding, and
// clip_grads leaves the gradients bit for bit as clip_grad_norm_ does, clipping or not.
TEST(Optim, ClipIsClipGradNormBitForBit) {
  for (double scale : {10.0, 1e-3}) {
    auto a = make_params(3), b = clones(a);
    set_grads(a, 0, scale);
    set_grads(b, 0, scale);
    double sq = 0;
    for (const auto& t : a) sq += t.grad().to(torch::kDouble).pow(2).sum().item<double>();
    EXPECT_NEAR(grad_norm(b), std::sqrt(sq), 1e-6 * std::sqrt(sq));
    torch::nn::utils::clip_grad_norm_(a, 1.0);
    clip_grads(b, grad_norm_tensor(b), 1.0);
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].grad(), b[i].grad())) << scale << " " << i;
  }
}

TEST(Optim, EmaUpdateIsMulThenAddBitForBit) {
  auto params = make_params(4);
  auto e1 = clones(make_params(5)), e2 = clones(e1);
  for (auto& t : e1) t = t.detach();
  for (auto& t : e2) t = t.detach();
  for (std::size_t i = 0; i < params.size(); ++i) e1[i].mul_(0.95).add_(params[i].detach(), 1.0 - 0.95);
  ema_update(e2, params, 0.95);
  for (std::size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(torch::equal(e1[i], e2[i])) << i;
}

}  // namespace
}  // namespace osv
