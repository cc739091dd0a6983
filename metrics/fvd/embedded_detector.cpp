#include "metrics/fvd/embedded_detector.h"

#include <fmt/format.h>

#include "common/log.h"

#include <cmath>
#include "datasets/synthetic.h"
#include "metrics/fvd/preprocess.h"
#include "models/weights.h"

namespace osv {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Class labels of a clip's factors: the first object's direction of motion (8), the camera pan's
// horizontal and vertical directions (2 + 2), the lighting change's direction (2).
std::array<int64_t, 4> factor_labels(const nlohmann::json& l) {
  const auto& ob = l.at("objects").at(0);
  const double vx = ob.at("velocity")[0].get<double>(), vy = ob.at("velocity")[1].get<double>();
  double ang = std::atan2(vy, vx);
  if (ang < 0) ang += 2 * kPi;
  const auto dir = static_cast<int64_t>(std::floor(ang / (2 * kPi) * 8)) % 8;
  const auto& pan = l.at("background").at("pan_per_frame");
  const int64_t pan_x = pan[0].get<double>() > 0 ? 1 : 0, pan_y = pan[1].get<double>() > 0 ? 1 : 0;
  const int64_t light = l.at("lighting").at("rate_per_frame").get<double>() > 0 ? 1 : 0;
  return {dir, pan_x, pan_y, light};
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
    const std::array<std::pair<int64_t, int64_t>, 4> heads{{{0, 8}, {8, 10}, {10, 12}, {12, 14}}};
    for (int64_t step = 0; step < o.train_steps; ++step) {
      std::vector<torch::Tensor> vids;
      std::vector<std::array<int64_t, 4>> labels;
      for (int64_t i = 0; i < o.batch; ++i) {
        auto c = synthetic_clip(to, step * o.batch + i);
        vids.push_back(c.video);
        labels.push_back(factor_labels(c.labels));
      }
      auto logits = net->forward(preprocess_videos(torch::stack(vids), FvdPreprocess::TF, o.input_size)).logits;
      auto loss = torch::zeros({});
      for (std::size_t h = 0; h < heads.size(); ++h) {
        std::vector<int64_t> y;
        for (const auto& l : labels) y.push_back(l[h]);
        loss = loss + torch::nn::functional::cross_entropy(logits.slice(1, heads[h].first, heads[h].second),
                                                           torch::tensor(y, torch::kInt64));
      }
      opt.zero_grad();
      loss.backward();
      opt.step();
      if (step % 25 == 0 || step + 1 == o.train_steps)
        log::info("embedded FVD detector: step {}/{} factor loss {:.3f}", step + 1, o.train_steps, loss.item<double>());
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
