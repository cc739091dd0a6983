// The optimiser tail of a teacher training step — gradient norm, clip to 1, Adam, EMA — on the
// embedded UNet's parameters of a preset (seeded random weights and gradients; the tail's speed does
// not depend on their values): the stock libtorch path (per-parameter norm in double,
// clip_grad_norm_, torch::optim::Adam::step, EMA mul_/add_) against methods/api/optim.h (one
// foreach norm, clip by it, one fused Adam kernel, foreach EMA). Both in this process, interleaved.
//
//   bench_optimizer [--preset small] [--reps 20] [--threads 0]
// Prints a table and one JSON line with the two times and their ratio.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "methods/api/optim.h"
#include "methods/svd/embedded.h"

using namespace osv;

int main(int argc, char** argv) {
  CLI::App app{"optimiser tail: stock libtorch vs fused, on the embedded UNet's parameters"};
  std::string preset = "small";
  int reps = 20, threads = 0;
  app.add_option("--preset", preset);
  app.add_option("--reps", reps);
  app.add_option("--threads", threads);
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) at::set_num_threads(threads);
  const Config c = Config::resolve(preset, {});
  torch::manual_seed(0);
  UNetSpatioTemporalConditionModel unet(embedded_svd_config(c).unet);
  auto stock_p = unet->parameters();
  std::vector<torch::Tensor> fused_p;
  int64_t numel = 0;
  for (const auto& p : stock_p) {
    fused_p.push_back(p.detach().clone().requires_grad_(true));
    numel += p.numel();
  }
  auto grads = [](std::vector<torch::Tensor>& ps) {
    for (auto& p : ps) p.mutable_grad() = torch::randn(p.sizes()) * 1e-2;
  };
  std::vector<torch::Tensor> stock_ema, fused_ema;
  for (const auto& p : stock_p) {
    stock_ema.push_back(p.detach().clone());
    fused_ema.push_back(p.detach().clone());
  }
  torch::optim::Adam stock_opt(stock_p, torch::optim::AdamOptions(1e-4));
  torch::optim::Adam fused_opt(fused_p, torch::optim::AdamOptions(1e-4));
  auto stock = [&] {
    double sq = 0;
    for (const auto& p : stock_p) sq += p.grad().detach().to(torch::kDouble).pow(2).sum().item<double>();
    torch::nn::utils::clip_grad_norm_(stock_p, 1.0);
    stock_opt.step();
    torch::NoGradGuard g;
    for (std::size_t i = 0; i < stock_p.size(); ++i) stock_ema[i].mul_(0.999).add_(stock_p[i].detach(), 1.0 - 0.999);
    return std::sqrt(sq);
  };
  auto fused = [&] {
    const auto norm = grad_norm_tensor(fused_p);
    const double gn = norm.item<double>();
    clip_grads(fused_p, norm, 1.0);
    adam_step(fused_opt);
    ema_update(fused_ema, fused_p, 0.999);
    return gn;
  };
  auto time = [](auto&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  grads(stock_p);
  grads(fused_p);
  stock();  // warm-up: the first step creates the optimiser state
  fused();
  double ts = 0, tf = 0;
  for (int r = 0; r < reps; ++r) {  // interleaved, so drift in the machine's speed hits both
    grads(stock_p);
    grads(fused_p);
    ts += time(stock);
    tf += time(fused);
  }
  ts /= reps;
  tf /= reps;
  std::printf("optimiser tail on the %s UNet: %zu tensors, %lld parameters, %d threads, %d reps\n", preset.c_str(),
              stock_p.size(), static_cast<long long>(numel), at::get_num_threads(), reps);
  std::printf("%-8s %10s\n%-8s %10.4f\n%-8s %10.4f\nratio stock/fused %.2f\n", "path", "s/step", "stock", ts, "fused",
              tf, ts / tf);
  std::printf("%s\n", nlohmann::json{{"bench", "optimizer_tail"},
                                     {"preset", preset},
                                     {"tensors", stock_p.size()},
                                     {"parameters", numel},
                                     {"threads", at::get_num_threads()},
                                     {"stock_s", ts},
                                     {"fused_s", tf},
                                     {"ratio", ts / tf}}
                          .dump()
                          .c_str());
}
