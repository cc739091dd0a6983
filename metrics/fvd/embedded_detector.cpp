#include "metrics/fvd/embedded_detector.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <numbers>
#include <vector>

#include "common/log.h"
#include "common/sha256.h"
#include "datasets/synthetic.h"
#include "dist/dist.h"
#include "metrics/fvd/preprocess.h"
#include "models/weights.h"

namespace osv {

namespace {


// Regression targets of a clip's generative factors. Motion: the camera pan's velocity (x, y), the
// lighting's rate of change, the objects' mean speed and spin magnitude, their number. Appearance:
// the background's two colours, the lighting's starting level, the objects' mean colour and size,
// and the first-drawn object's colour and starting position. Motion alone teaches the network
// little beyond the lighting rate, and its features then neither see colour nor stay well-behaved
// (a few brightening clips carried 92% of the feature variance).
std::vector<float> factor_targets(const nlohmann::json& l) {
  const auto& bg = l.at("background");
  const auto& objs = l.at("objects");
  const double n = static_cast<double>(objs.size());
  double speed = 0, spin = 0, size = 0;
  std::array<double, 3> colour{};
  for (const auto& ob : objs) {
    speed += std::hypot(ob.at("velocity")[0].get<double>(), ob.at("velocity")[1].get<double>());
    spin += std::abs(ob.at("spin").get<double>());
    size += ob.at("size").get<double>();
    for (int k = 0; k < 3; ++k) colour[k] += ob.at("colour")[k].get<double>() / n;
  }
  std::vector<double> t = {bg.at("pan_per_frame")[0].get<double>(), bg.at("pan_per_frame")[1].get<double>(),
                           l.at("lighting").at("rate_per_frame").get<double>(), speed / n, spin / n, n};
  for (int c = 0; c < 2; ++c)
    for (int k = 0; k < 3; ++k) t.push_back(bg.at("colours")[c][k].get<double>());
  t.push_back(l.at("lighting").at("start").get<double>());
  t.insert(t.end(), colour.begin(), colour.end());
  t.push_back(size / n);
  for (int k = 0; k < 3; ++k) t.push_back(objs.at(0).at("colour")[k].get<double>());
  for (int k = 0; k < 2; ++k) t.push_back(objs.at(0).at("start")[k].get<double>());
  return {t.begin(), t.end()};
}
constexpr int64_t kNumMotionTargets = 6;

}  // namespace

int64_t embedded_finetune_steps(const EmbeddedDetectorOptions& o) { return o.train_steps / 4; }

InceptionI3d build_embedded_i3d(const EmbeddedDetectorOptions& o) {
  torch::manual_seed(static_cast<uint64_t>(o.seed) + 1234567);
  I3dConfig c;
  c.bn_eps = o.bn_eps;
  InceptionI3d net(c);
  // Calibration clips: a seed of their own, so they are not the evaluation clips.
  SyntheticOptions so;
  so.frames = o.frames;
  so.height = o.input_size;
  so.width = o.input_size;
  so.seed = o.seed + 7919;
  std::vector<torch::Tensor> clips;
  for (int64_t i = 0; i < o.calibration_clips; ++i) clips.push_back(synthetic_clip(so, i).video);
  auto x = preprocess_videos(torch::stack(clips), FvdPreprocess::TF, o.input_size);
  if (o.train_steps > 0) {
    // Factor regression on clips of yet another seed. Each target is standardised by its mean and
    // deviation over the first `kNorm` training clips' labels; the motion targets weigh
    // `motion_weight` times as much as the appearance ones (without it the network learns
    // appearance only and barely tells shuffled or frozen frames from real ones).
    SyntheticOptions to = so;
    to.seed = o.seed + 104729;
    constexpr int64_t kNorm = 512;
    std::vector<float> all;
    for (int64_t i = 0; i < kNorm; ++i) {
      const auto t = factor_targets(synthetic_clip(to, i).labels);
      all.insert(all.end(), t.begin(), t.end());
    }
    auto labels = torch::tensor(all).view({kNorm, -1});
    const int64_t K = labels.size(1);
    const auto mean = labels.mean(0), sd = labels.std(0).clamp_min(1e-8);
    auto weight = torch::ones({K});
    weight.slice(0, 0, kNumMotionTargets).fill_(o.motion_weight);
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(o.lr));
    const int64_t total = o.train_steps + embedded_finetune_steps(o);
    // Data parallel (prepare in a process group): every rank regresses its rows of each step's
    // global batch of o.batch clips, with batch statistics over the global batch (global_batch_norm)
    // and the gradients averaged, so the ranks train what one process trains on the whole batch. The
    // calibration passes run whole on every rank (no gradients: the same bits everywhere).
    const bool split = embedded_i3d_splits(o);
    const auto rows = split ? dist::rows_of(o.batch, "the embedded FVD detector's batch of " + std::to_string(o.batch) + " clips")
                            : dist::Rows{0, o.batch};
    net->set_calibrating(true, /*across_ranks=*/split);  // batch statistics until the first recalibration below
    for (int64_t step = 0; step < total; ++step) {
      double lr = o.finetune_lr;
      if (step < o.train_steps) {
        // Batch statistics in every batch norm; linear warm-up, then cosine decay to zero.
        const int64_t warm = std::min<int64_t>(20, o.train_steps);
        lr = step < warm ? o.lr * static_cast<double>(step + 1) / static_cast<double>(warm)
                         : o.lr * 0.5 * (1 + std::cos(std::numbers::pi * static_cast<double>(step) /
                                                      static_cast<double>(o.train_steps)));
      } else if ((step - o.train_steps) % 25 == 0) {
        // Fine-tuning with the statistics evaluation will use, recalibrated every 25 steps: with
        // batch statistics only, a few clips' features come out tens of times larger at evaluation
        // (5% of the clips carried 50-90% of the variance once motion was learned).
        torch::NoGradGuard ng;
        net->calibrate(x);  // leaves the batch norms on these statistics
      }
      for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
      std::vector<torch::Tensor> vids;
      std::vector<float> y;
      for (int64_t i = rows.begin; i < rows.end; ++i) {
        auto c = synthetic_clip(to, step * o.batch + i);
        vids.push_back(c.video);
        const auto t = factor_targets(c.labels);
        y.insert(y.end(), t.begin(), t.end());
      }
      auto logits = net->forward(preprocess_videos(torch::stack(vids), FvdPreprocess::TF, o.input_size)).logits;
      auto target = (torch::tensor(y).view({rows.size(), K}) - mean) / sd;
      auto per = (logits.slice(1, 0, K) - target).pow(2).mean(0);  // [K]
      auto loss = (per * weight).sum();
      opt.zero_grad();
      loss.backward();
      auto per_logged = per.detach();
      if (split) {  // the ranks' mean gradient (and loss): the global batch's
        torch::NoGradGuard ng;
        std::vector<torch::Tensor> bucket;
        for (auto& p : net->parameters()) {
          if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
          bucket.push_back(p.grad());
        }
        per_logged = per_logged.clone();
        bucket.push_back(per_logged);
        dist::all_reduce_mean(bucket);
      }
      if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(net->parameters(), o.grad_clip);
      opt.step();
      if (step % 25 == 0 || step + 1 == total) {
        const auto& p = per_logged;
        log::info("embedded FVD detector: step {}/{}{} loss per target (1 = chance): motion {:.2f}, appearance {:.2f}",
                  step + 1, total, step < o.train_steps ? "" : " (fixed statistics)",
                  p.slice(0, 0, kNumMotionTargets).mean().item<double>(),
                  p.slice(0, kNumMotionTargets).mean().item<double>());
      }
    }
    net->set_calibrating(false);
  }
  torch::NoGradGuard g;
  // One pass in which every batch norm takes its input batch's statistics as running statistics.
  net->calibrate(x);
  net->eval();
  // Scale the logits layer so the 400 features have unit variance on the calibration clips.
  auto out = net->forward(x).logits;
  const double sd = out.std().item<double>();
  if (sd > 0) {
    for (auto& p : net->named_parameters(true))
      if (p.key().rfind("logits.", 0) == 0) p.value().div_(sd);
  }
  return net;
}

std::map<std::string, std::string> embedded_i3d_description(const EmbeddedDetectorOptions& o) {
  return {{"detector", "i3d-embedded"},
          {"seed", std::to_string(o.seed)},
          {"input_size", std::to_string(o.input_size)},
          {"training", fmt::format("{} steps x {} synthetic clips (seed {}), factor regression (lr {}, cosine, clip {}, "
                                   "motion weight {}) + {} steps at lr {} with fixed statistics",
                                   o.train_steps, o.batch, o.seed + 104729, o.lr, o.grad_clip, o.motion_weight,
                                   embedded_finetune_steps(o), o.finetune_lr)},
          {"calibration", fmt::format("{} synthetic clips, seed {}, {} frames", o.calibration_clips, o.seed + 7919,
                                      o.frames)}};
}

std::string embedded_i3d_key(const EmbeddedDetectorOptions& o) {
  // The file's own description plus what shapes the network without being written into it.
  std::string text = fmt::format("bn_eps={}\n", o.bn_eps);
  for (const auto& [k, v] : embedded_i3d_description(o)) text += k + "=" + v + "\n";
  return sha256_hex(text).substr(0, 12);
}

bool embedded_i3d_splits(const EmbeddedDetectorOptions& o) {
  return o.data_parallel && dist::world() > 1 && o.batch % dist::world() == 0;
}

std::filesystem::path ensure_embedded_i3d(const std::filesystem::path& path, const EmbeddedDetectorOptions& o) {
  if (std::filesystem::exists(path)) return path;
  build_embedded_i3d_to(path, o, true);
  return path;
}

void build_embedded_i3d_to(const std::filesystem::path& path, const EmbeddedDetectorOptions& o, bool write) {
  if (o.data_parallel && dist::world() > 1 && !embedded_i3d_splits(o))
    log::warn("the embedded FVD detector's batch of {} clips does not split over {} ranks: every rank builds it whole",
              o.batch, dist::world());
  log::info("building the embedded FVD detector (I3D, {} + {} steps of factor regression on synthetic clips) -> {}",
            o.train_steps, embedded_finetune_steps(o), path.string());
  auto net = build_embedded_i3d(o);
  auto meta = embedded_i3d_description(o);
  // Split across ranks: said in the file (one process's file stays as it was, bits included).
  if (embedded_i3d_splits(o))
    meta["data_parallel"] = fmt::format("{} ranks, {} clips each per step, global batch statistics", dist::world(),
                                        o.batch / dist::world());
  if (write) save_weights(*net, path, meta);
}

}  // namespace osv
