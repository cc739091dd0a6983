#include "methods/api/optim.h"

#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_foreach_norm.h>
#include <ATen/ops/_fused_adam.h>
#include <ATen/ops/_fused_adamw.h>

#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <type_traits>

namespace osv {
namespace {

std::vector<torch::Tensor> grads_of(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> g;
  g.reserve(params.size());
  for (const auto& p : params)
    if (p.grad().defined()) g.push_back(p.grad().detach());
  return g;
}

template <class Options, class State>
bool fused_group(torch::optim::Optimizer& opt, torch::optim::OptimizerParamGroup& group) {
  auto* o = dynamic_cast<Options*>(&group.options());
  if (!o) return false;
  if (o->amsgrad()) throw std::logic_error("adam_step: amsgrad is not supported");
  std::vector<torch::Tensor> ps, gs, m, v, steps;
  // The kernel reads each parameter's step count from a float tensor [] on the parameter's device
  // (it does not write it): one tensor per distinct (count, device), shared by the parameters.
  std::map<std::pair<int64_t, std::string>, torch::Tensor> step_tensors;
  for (auto& p : group.params()) {
    if (!p.grad().defined()) continue;
    if (!p.is_contiguous() || !p.grad().is_contiguous())
      throw std::logic_error("adam_step: a parameter or its gradient is not contiguous");
    auto& slot = opt.state()[p.unsafeGetTensorImpl()];
    if (!slot) {
      auto s = std::make_unique<State>();
      s->step(0);
      s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      slot = std::move(s);
    }
    auto& s = static_cast<State&>(*slot);
    s.step(s.step() + 1);
    ps.push_back(p.detach());
    gs.push_back(p.grad().detach());
    m.push_back(s.exp_avg());
    v.push_back(s.exp_avg_sq());
    auto& st = step_tensors[{s.step(), p.device().str()}];
    if (!st.defined()) st = torch::full({}, static_cast<double>(s.step()), p.options().dtype(torch::kFloat32));
    steps.push_back(st);
  }
  if (ps.empty()) return true;
  const auto [b1, b2] = o->betas();
  if constexpr (std::is_same_v<Options, torch::optim::AdamWOptions>)
    at::_fused_adamw_(ps, gs, m, v, {}, steps, o->lr(), b1, b2, o->weight_decay(), o->eps(), false, false);
  else
    at::_fused_adam_(ps, gs, m, v, {}, steps, o->lr(), b1, b2, o->weight_decay(), o->eps(), false, false);
  return true;
}

}  // namespace

torch::Tensor grad_norm_tensor(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard g;
  const auto grads = grads_of(params);
  if (grads.empty()) return torch::zeros({});
  const auto norms = at::_foreach_norm(grads, 2);
  return norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
}

double grad_norm(const std::vector<torch::Tensor>& params) { return grad_norm_tensor(params).item<double>(); }

void clip_grads(const std::vector<torch::Tensor>& params, const torch::Tensor& total_norm, double max_norm) {
  torch::NoGradGuard g;
  auto grads = grads_of(params);
  if (grads.empty()) return;
  const auto coef = torch::clamp(max_norm / (total_norm + 1e-6), std::nullopt, 1.0);
  at::_foreach_mul_(grads, coef);
}

void adam_step(torch::optim::Optimizer& opt) {
  torch::NoGradGuard g;
  for (auto& group : opt.param_groups())
    if (!fused_group<torch::optim::AdamOptions, torch::optim::AdamParamState>(opt, group) &&
        !fused_group<torch::optim::AdamWOptions, torch::optim::AdamWParamState>(opt, group))
      throw std::logic_error("adam_step: only Adam and AdamW groups can be stepped");
}

void ema_update(std::vector<torch::Tensor>& ema, const std::vector<torch::Tensor>& params, double mu) {
  torch::NoGradGuard g;
  std::vector<torch::Tensor> p;
  p.reserve(params.size());
  for (const auto& t : params) p.push_back(t.detach());
  at::_foreach_mul_(ema, mu);
  at::_foreach_add_(ema, p, 1.0 - mu);
}

}  // namespace osv
