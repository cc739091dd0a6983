#include "metrics/fvd/embedded_detector.h"

#include <fmt/format.h>

#include "common/log.h"

#include <cmath>
#include "datasets/synthetic.h"
#include "metrics/fvd/preprocess.h"
#include "models/weights.h"

namespace osv {

namespace {


// Regression targets of a clip's generative factors, each scaled to about unit variance: the
// camera pan's velocity (x, y), the lighting's rate of change, the objects' mean speed and spin
// magnitude, and their number. Motion targets need the frames in order and moving; the count needs
// the objects' edges.
constexpr int64_t kNumTargets = 6;
std::array<float, kNumTargets> factor_targets(const nlohmann::json& l) {
  const auto& pan = l.at("background").at("pan_per_frame");
  double speed = 0, spin = 0;
  const auto& objs = l.at("objects");
  for (const auto& ob : objs) {
    speed += std::hypot(ob.at("velocity")[0].get<double>(), ob.at("velocity")[1].get<double>());
    spin += std::abs(ob.at("spin").get<double>());
  }
  const double n = static_cast<double>(objs.size());
  return {static_cast<float>(pan[0].get<double>() / 0.0115), static_cast<float>(pan[1].get<double>() / 0.0058),
          static_cast<float>(l.at("lighting").at("rate_per_frame").get<double>() / 0.0115),
          static_cast<float>((speed / n - 0.025) / 0.005), static_cast<float>((spin / n - 0.125) / 0.04),
          static_cast<float>(n - 3.0)};
}

}  // namespace

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
    // Factor classification on clips of yet another seed; batch norms use batch statistics.
    SyntheticOptions to = so;
    to.seed = o.seed + 104729;
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(o.lr));
    net->set_calibrating(true);
    for (int64_t step = 0; step < o.train_steps; ++step) {
      std::vector<torch::Tensor> vids;
      std::vector<float> y;
      for (int64_t i = 0; i < o.batch; ++i) {
        auto c = synthetic_clip(to, step * o.batch + i);
        vids.push_back(c.video);
        const auto t = factor_targets(c.labels);
        y.insert(y.end(), t.begin(), t.end());
      }
      auto logits = net->forward(preprocess_videos(torch::stack(vids), FvdPreprocess::TF, o.input_size)).logits;
      auto target = torch::tensor(y).view({o.batch, kNumTargets});
      auto per = (logits.slice(1, 0, kNumTargets) - target).pow(2).mean(0);  // [kNumTargets]
      auto loss = per.sum();
      opt.zero_grad();
      loss.backward();
      opt.step();
      if (step % 25 == 0 || step + 1 == o.train_steps) {
        auto p = per.detach();
        log::info("embedded FVD detector: step {}/{} factor loss {:.3f} (pan {:.2f} {:.2f}, light {:.2f}, speed {:.2f}, "
                  "spin {:.2f}, count {:.2f})",
                  step + 1, o.train_steps, loss.item<double>(), p[0].item<double>(), p[1].item<double>(),
                  p[2].item<double>(), p[3].item<double>(), p[4].item<double>(), p[5].item<double>());
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

std::filesystem::path ensure_embedded_i3d(const std::filesystem::path& path, const EmbeddedDetectorOptions& o) {
  if (std::filesystem::exists(path)) return path;
  log::info("building the embedded FVD detector (I3D, {} steps of factor classification on synthetic clips) -> {}",
            o.train_steps, path.string());
  auto net = build_embedded_i3d(o);
  save_weights(*net, path,
               {{"detector", "i3d-embedded"},
                {"seed", std::to_string(o.seed)},
                {"input_size", std::to_string(o.input_size)},
                {"training", fmt::format("{} steps x {} synthetic clips (seed {}), factor classification",
                                         o.train_steps, o.batch, o.seed + 104729)},
                {"calibration", fmt::format("{} synthetic clips, seed {}, {} frames", o.calibration_clips, o.seed + 7919,
                                            o.frames)}});
  return path;
}

}  // namespace osv
