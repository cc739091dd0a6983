// The optimiser tail of a training step (gradient norm, clipping, Adam/AdamW update, EMA) in as few
// operator calls as the parameter count allows. torch::optim::Adam::step issues ~8 operators per
// parameter (each scalar argument wrapped into a tensor with a fill_), and the norm and the clip
// walked the gradients twice more: on the small teacher's ~330 tensors that was ~7,100 fill_ and
// ~4,400 copy_ calls a step (run.profile_steps). Same mathematics, other rounding: the unit tests
// pin each function to the stock libtorch path (tests/unit/test_optim.cpp) and
// bench/bench_optimizer.cpp measures the two side by side.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace osv {

// ||all gradients||_2 as a float tensor [] (the per-parameter norms' norm, as
// torch::nn::utils::clip_grad_norm_ computes it); parameters without a gradient are skipped, an
// empty set gives 0.
torch::Tensor grad_norm_tensor(const std::vector<torch::Tensor>& params);
// The same as a double (one host synchronisation).
double grad_norm(const std::vector<torch::Tensor>& params);
// Scales every gradient by min(1, max_norm / (total_norm + 1e-6)), total_norm from
// grad_norm_tensor: what clip_grad_norm_(params, max_norm) does without its second walk over the
// gradients — bit for bit on the CPU (on CUDA the foreach norm may sum in another order: last bit).
void clip_grads(const std::vector<torch::Tensor>& params, const torch::Tensor& total_norm, double max_norm);
// One step of an Adam or AdamW optimiser over every group with one fused kernel per group
// (at::_fused_adam_ / at::_fused_adamw_). The state is the optimiser's own (AdamParamState /
// AdamWParamState: step, exp_avg, exp_avg_sq), created as libtorch creates it, so checkpoints and a
// later opt.step() see the same state. amsgrad and other optimisers: std::logic_error.
void adam_step(torch::optim::Optimizer& opt);
// ema = mu * ema + (1 - mu) * params, with the stock arithmetic (the same bits as mul_ then add_).
void ema_update(std::vector<torch::Tensor>& ema, const std::vector<torch::Tensor>& params, double mu);

}  // namespace osv
