#include "metrics/fvd/protocol.h"

#include <fmt/format.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/text.h"

namespace osv {

const std::vector<FvdProtocol>& fvd_protocols() {
  static const std::vector<FvdProtocol> p = {
      {"fvd2048_16f", 2048, 2048, 16, "random_window", "i3d_torchscript", "styleganv", 224, "N", "",
       "2,048 real and 2,048 generated clips of 16 frames, a random window per video at its native fps, the "
       "TorchScript I3D resizing from the source resolution (StyleGAN-V)",
       "Skorokhodov et al. 2022, StyleGAN-V: src/metrics/frechet_video_distance.py, metric_utils.py"},
      {"fvd_tf", 0, 0, 16, "first", "i3d", "tf", 224, "N-1", "",
       "TF's original FVD: the first 16 frames, TF1 bilinear resize to 224 from the source resolution, Kinetics-400 "
       "I3D logits, covariance with N-1 (TF-GAN); no fixed count",
       "Unterthiner et al. 2018, google-research/frechet_video_distance; tfgan.eval.frechet_classifier_distance"},
      {"osv_paper", 1000, 1000, 14, "first", "", "", 0, "", "",
       "the OSV paper: 1,000 OpenVid-1M test clips of 14 frames (detector, resize and normaliser not stated: the "
       "config's, recorded)",
       "Mao et al., OSV, Table 1"},
  };
  return p;
}

const FvdProtocol& find_fvd_protocol(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& p : fvd_protocols()) {
    if (p.name == name) return p;
    names.push_back(p.name);
  }
  throw UsageError(fmt::format("unknown FVD protocol '{}'{}; known: {}", name, did_you_mean(name, names),
                               join(names, ", ")));
}

void apply_fvd_protocol(Config& config, const FvdProtocol& protocol) {
  if (protocol.num_real > 0) config.set_json("fvd.num_real", protocol.num_real);
  if (protocol.num_fake > 0) config.set_json("fvd.num_fake", protocol.num_fake);
  config.set_json("fvd.frames", protocol.frames);
  if (!protocol.detector.empty()) config.set_json("fvd.detector", protocol.detector);
  if (!protocol.preprocess.empty()) config.set_json("fvd.preprocess", protocol.preprocess);
  if (!protocol.normaliser.empty()) config.set_json("fvd.cov_normaliser", protocol.normaliser);
  if (protocol.input_size > 0) config.set_json("fvd.input_size", protocol.input_size);
}

nlohmann::json FolderRule::to_json() const {
  return {{"protocol", protocol.empty() ? nlohmann::json(nullptr) : nlohmann::json(protocol)},
          {"frames", frames},
          {"frame_choice", random_window ? "random_window" : "first"},
          {"fps", "native"},
          {"resize", "the detector's preprocessing, from the source resolution"},
          {"count_required", count},
          {"allow_fewer", allow_fewer},
          {"subset_seed", seed}};
}

void FolderRule::require_count(int64_t n, const std::string& where, const std::string& what) const {
  if (count <= 0 || n >= count || allow_fewer) return;
  throw InputError(fmt::format("{}: {} {}, and protocol {} takes {}: an FVD at another N is not comparable (its bias "
                               "depends on N). Add --allow-fewer to compute on {} anyway (the result states N)",
                               where, n, what, protocol, count, n));
}

FolderRule folder_rule(const Config& c, const FvdProtocol* p, bool real, bool allow_fewer) {
  FolderRule r;
  r.frames = c.get<long long>("fvd.frames");
  r.seed = static_cast<uint64_t>(c.get<long long>("fvd.subset_seed"));
  r.allow_fewer = allow_fewer;
  if (p) {
    r.protocol = p->name;
    r.random_window = p->frame_choice == "random_window";
    r.count = real ? p->num_real : p->num_fake;
  }
  return r;
}

}  // namespace osv
