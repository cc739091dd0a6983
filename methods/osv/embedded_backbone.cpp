// OSV's embedded DINOv2 backbone: the architecture at a small config, pretrained here by masked
// image modelling (SimMIM: random patches replaced by the mask token, a linear head predicts
// their pixels from the last hidden state, L1 on the masked patches) on single frames of the
// synthetic generator under a seed of its own — an objective and data distinct from the FVD
// detector's (factor regression on the data split's clips), so the discriminator cannot game the
// metric. A linear probe (ridge regression onto the top object's shape, 4 classes, from the token
// of the patch under the object's centre, on held-out frames) of the trained and of the randomly
// initialised network is written beside the weights.
//   <run.root>/assets/dinov2-embedded-<hash>/  config.json, model.safetensors, pretrain.json,
//                                              checkpoint.safetensors, metrics.jsonl, key.json
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "common/atomic_file.h"
#include "common/config.h"
#include "common/dir_lock.h"
#include "common/log.h"
#include "datasets/synthetic.h"
#include "methods/api/train_loop.h"
#include "methods/distill/student.h"
#include "methods/osv/osv.h"
#include "models/safetensors.h"
#include "models/weights.h"

namespace osv {
namespace fs = std::filesystem;

namespace {

nlohmann::json dinov2_config_json(const Dinov2Config& d) {
  return {{"model_type", "dinov2"},   {"architectures", {"Dinov2Model"}}, {"hidden_size", d.hidden_size},
          {"num_hidden_layers", d.num_hidden_layers}, {"num_attention_heads", d.num_attention_heads},
          {"mlp_ratio", d.mlp_ratio}, {"image_size", d.image_size}, {"patch_size", d.patch_size},
          {"num_channels", d.num_channels}, {"layer_norm_eps", d.layer_norm_eps}, {"qkv_bias", d.qkv_bias},
          {"use_swiglu_ffn", d.use_swiglu_ffn}, {"hidden_act", d.hidden_act}, {"layerscale_value", 1.0}};
}

constexpr double kProbeRidge = 1.0;  // ridge of the linear probe (features standardised: per-feature units)

// The synthetic generator's seed for the backbone's frames: not the data split's (data seed = seed).
uint64_t frames_seed(const Config& c) { return static_cast<uint64_t>(c.get<long long>("seed")) + 7919; }

struct BackboneFrames {
  torch::Tensor x;      // [n, 3, S, S] ImageNet-normalised
  torch::Tensor shape;  // [n] the top object's shape, 0..3 (circle, square, triangle, ring)
  torch::Tensor patch;  // [n] the patch (raster index) under the top object's centre
};

// Frames [first, first + n) of the backbone's own synthetic set at the backbone's input size.
BackboneFrames backbone_frames(const Config& c, int64_t first, int64_t n, int64_t patch_size) {
  SyntheticOptions o;
  o.frames = 1;
  o.height = o.width = c.get<long long>("disc.input_size");
  o.seed = frames_seed(c);
  const int64_t S = o.height, G = S / patch_size;
  std::vector<torch::Tensor> frames;
  std::vector<int64_t> labels, patches;
  const char* shapes[] = {"circle", "square", "triangle", "ring"};
  for (int64_t i = 0; i < n; ++i) {
    auto clip = synthetic_clip(o, first + i);
    frames.push_back(clip.video[0].to(torch::kFloat32) / 255.0);
    const auto& top = clip.labels.at("objects").back();
    const auto name = top.at("shape").get<std::string>();
    int64_t k = 0;
    while (k < 3 && name != shapes[k]) ++k;
    labels.push_back(k);
    // Frame 0: the centre is the start position, in frame-height units around the middle.
    const double cx = top.at("start")[0].get<double>(), cy = top.at("start")[1].get<double>();
    const auto col = std::clamp<int64_t>(static_cast<int64_t>((cx + 0.5) * static_cast<double>(S)) / patch_size, 0, G - 1);
    const auto row = std::clamp<int64_t>(static_cast<int64_t>((cy + 0.5) * static_cast<double>(S)) / patch_size, 0, G - 1);
    patches.push_back(row * G + col);
  }
  auto x = torch::stack(frames);  // [n, 3, S, S] in [0, 1]
  auto mean = torch::tensor({0.485, 0.456, 0.406}, torch::kFloat32).view({1, 3, 1, 1});
  auto std = torch::tensor({0.229, 0.224, 0.225}, torch::kFloat32).view({1, 3, 1, 1});
  return {(x - mean) / std, torch::tensor(labels, torch::kInt64), torch::tensor(patches, torch::kInt64)};
}

// [B, 3, S, S] -> [B, N, P*P*3], patches in the ViT's raster order.
torch::Tensor patchify(const torch::Tensor& x, int64_t p) {
  const int64_t B = x.size(0), C = x.size(1), g = x.size(2) / p;
  return x.view({B, C, g, p, g, p}).permute({0, 2, 4, 3, 5, 1}).reshape({B, g * g, p * p * C});
}

struct SimMimTask : TrainTask {
  Dinov2Model model;
  torch::nn::Linear head{nullptr};
  torch::Tensor pool;
  std::vector<torch::Tensor> params;
  std::unique_ptr<torch::optim::AdamW> opt;
  int64_t batch, patch;
  double mask_ratio, lr;

  SimMimTask(Dinov2Model m, torch::Tensor frames, int64_t b, double ratio, double learning_rate)
      : model(std::move(m)), pool(std::move(frames)), batch(b), mask_ratio(ratio), lr(learning_rate) {
    const auto& cfg = model->config();
    patch = cfg.patch_size;
    head = torch::nn::Linear(cfg.hidden_size, patch * patch * cfg.num_channels);
    for (auto& p : model->parameters()) params.push_back(p);
    for (auto& p : head->parameters()) params.push_back(p);
    opt = std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(lr).weight_decay(0.05));
  }

  StepOutput step(int64_t) override {
    model->train();
    // Data parallel: the global batch's frames, flips and masks are drawn on every rank (in one
    // process's order), each rank keeps its rows.
    const auto opts = pool.options().device(params.front().device());
    auto idx = torch::randint(pool.size(0), {batch}, torch::kInt64);
    auto flip = torch::rand({batch}, opts) < 0.5;  // horizontal flips
    const int64_t N = (pool.size(2) / patch) * (pool.size(3) / patch);
    auto mask = torch::rand({batch, N}, opts) < mask_ratio;  // [B, N]
    // The normaliser is the global batch's masked-patch count, so the ranks' averaged gradients are
    // the gradient of one process's masked mean (each rank's own count would weight its rows by it).
    const auto count = mask.to(torch::kFloat32).sum().clamp_min(1.0);
    idx = local_rows(idx);
    flip = local_rows(flip);
    mask = local_rows(mask);
    auto x = pool.index_select(0, idx).to(params.front().device());  // [b, 3, S, S], this rank's rows
    x = torch::where(flip.view({-1, 1, 1, 1}), x.flip({3}), x);
    auto h = model->forward(x, false, mask).last_hidden_state.slice(1, 1);  // [b, N, D]
    auto pred = head->forward(h);                                          // [b, N, P*P*3]
    auto err = (pred - patchify(x, patch)).abs().mean(2);                  // [b, N]
    auto m = mask.to(torch::kFloat32);
    auto loss = (err * m).sum() / count;
    if (world_size() > 1) loss = loss * static_cast<double>(world_size());  // the ranks' mean is the global masked mean
    StepOutput out;
    opt->zero_grad();
    out.finite = all_finite(loss);
    if (out.finite) loss.backward();
    double mean_loss = loss.item<double>();
    out.finite = sync_gradients(params, out.finite, &mean_loss);  // data parallel: every rank's average
    if (out.finite) {
      out.metrics["grad_norm"] = grad_norm(params);
      out.finite = std::isfinite(out.metrics["grad_norm"]);
      if (out.finite) adam_step(*opt);
    }
    opt->zero_grad();
    out.metrics["loss"] = mean_loss;
    out.metrics["mask_share"] = m.mean().item<double>();  // this rank's rows (rank 0's in the log)
    out.metrics["lr"] = lr;
    return out;
  }
  void save(CheckpointWriter& a) override {
    a.module("model.", *model);
    a.module("head.", *head);
    a.optimizer("opt", *opt);
  }
  void load(const CheckpointReader& a) override {
    a.module("model.", *model);
    a.module("head.", *head);
    a.optimizer("opt", *opt);
  }
};

// Mean loss of the first 10 logged steps (metrics.jsonl), NaN when there is none.
double first_loss(const fs::path& metrics) {
  std::ifstream in(metrics);
  std::string line;
  double sum = 0;
  int n = 0;
  while (n < 10 && std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("loss") && j["loss"].is_number()) sum += j["loss"].get<double>(), ++n;
  }
  return n ? sum / n : std::nan("");
}

// Mean loss of the last 50 logged steps (metrics.jsonl), NaN when there is none.
double last_loss(const fs::path& metrics) {
  std::ifstream in(metrics);
  std::string line;
  std::vector<double> v;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("loss") && j["loss"].is_number()) v.push_back(j["loss"].get<double>());
  }
  if (v.empty()) return std::nan("");
  const std::size_t from = v.size() > 50 ? v.size() - 50 : 0;
  double sum = 0;
  for (std::size_t i = from; i < v.size(); ++i) sum += v[i];
  return sum / static_cast<double>(v.size() - from);
}

// Per hidden state (0 = embeddings, i = after block i), no grad: the 3 x 3 tokens around the patch
// under the top object's centre, concatenated [n, 9 D].
std::vector<torch::Tensor> probe_features(Dinov2Model& m, const BackboneFrames& fr) {
  torch::NoGradGuard g;
  m->eval();
  std::vector<std::vector<torch::Tensor>> per_layer;
  for (int64_t i = 0; i < fr.x.size(0); i += 64) {
    const int64_t e = std::min<int64_t>(i + 64, fr.x.size(0));
    const auto out = m->forward(fr.x.slice(0, i, e), true);
    per_layer.resize(out.hidden_states.size());
    for (std::size_t l = 0; l < out.hidden_states.size(); ++l) {
      auto h = out.hidden_states[l].slice(1, 1);  // [b, N, D]
      const int64_t G = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(h.size(1)))));
      auto grid = h.transpose(1, 2).reshape({h.size(0), h.size(2), G, G});  // [b, D, G, G]
      grid = torch::constant_pad_nd(grid, {1, 1, 1, 1});
      auto p = fr.patch.slice(0, i, e);
      std::vector<torch::Tensor> hood;  // the 3 x 3 tokens around the centre patch, concatenated
      for (int64_t dy = 0; dy < 3; ++dy)
        for (int64_t dx = 0; dx < 3; ++dx) {
          auto rows = torch::div(p, G, "floor") + dy, cols = p.remainder(G) + dx;
          hood.push_back(grid.index({torch::arange(p.size(0)), torch::indexing::Slice(), rows, cols}));
        }
      per_layer[l].push_back(torch::cat(hood, 1));
    }
  }
  std::vector<torch::Tensor> f;
  for (auto& v : per_layer) f.push_back(torch::cat(v).to(torch::kDouble));
  return f;
}

}  // namespace

double linear_probe_accuracy(const torch::Tensor& train_f, const torch::Tensor& train_y, const torch::Tensor& test_f,
                             const torch::Tensor& test_y, int64_t classes, double ridge) {
  auto mu = train_f.mean(0, true), sd = train_f.std(0, true, true).clamp_min(1e-8);
  auto a = torch::cat({(train_f - mu) / sd, torch::ones({train_f.size(0), 1}, train_f.options())}, 1);
  auto b = torch::cat({(test_f - mu) / sd, torch::ones({test_f.size(0), 1}, test_f.options())}, 1);
  auto y = torch::one_hot(train_y, classes).to(train_f.options());
  auto eye = torch::eye(a.size(1), train_f.options()) * ridge;
  auto w = torch::linalg_solve(a.t().mm(a) + eye, a.t().mm(y));  // ridge regression onto one-hot targets
  return (b.mm(w).argmax(1) == test_y).to(torch::kDouble).mean().item<double>();
}

Dinov2Config embedded_backbone_config(const Config& c) {
  Dinov2Config d;
  const bool tiny = c.get<std::string>("model.embedded") == "tiny";
  d.hidden_size = tiny ? 32 : 64;
  d.num_hidden_layers = tiny ? 2 : 6;
  d.num_attention_heads = 2;
  d.patch_size = 14;
  d.image_size = c.get<long long>("disc.input_size");
  return d;
}

const char* embedded_backbone_version() { return "simmim-l1-v1"; }

fs::path ensure_embedded_backbone(const Config& c, bool force) {
  const Dinov2Config d = embedded_backbone_config(c);
  const auto j = dinov2_config_json(d);
  nlohmann::json key = config_values(c, {"seed", "disc.input_size", "model.embedded", "disc.backbone_pretrain_iters",
                                         "disc.backbone_pretrain_lr", "disc.backbone_pretrain_batch",
                                         "disc.backbone_pretrain_frames", "disc.backbone_pretrain_mask"});
  key["config"] = j;
  key["objective"] = embedded_backbone_version();
  const fs::path dir = fs::path(c.get<std::string>("run.root")) / "assets" / ("dinov2-embedded-" + digest12(key));
  const fs::path out = dir / "model.safetensors";
  if (force) fs::remove_all(dir);
  cached_run(dir, out, key, "backbone", [&]() -> std::function<void()> {
    const int64_t iters = c.get<long long>("disc.backbone_pretrain_iters");
    const int64_t n_frames = c.get<long long>("disc.backbone_pretrain_frames");
    const uint64_t seed = static_cast<uint64_t>(c.get<long long>("seed")) + 31;
    torch::manual_seed(seed);
    Dinov2Model m(d);
    Dinov2Model random_init(d);  // the same initialisation, kept for the probe's baseline
    {
      torch::NoGradGuard g;
      auto src = m->parameters(), dst = random_init->parameters();
      for (std::size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
    }
    log::info("backbone: {} synthetic frames (seed {}), masked-image-modelling pretraining for {} steps", n_frames,
              frames_seed(c), iters);
    auto pool = backbone_frames(c, 0, n_frames, d.patch_size).x;
    SimMimTask task(m, pool, c.get<long long>("disc.backbone_pretrain_batch"), c.get<double>("disc.backbone_pretrain_mask"),
                    c.get<double>("disc.backbone_pretrain_lr"));
    const auto s = run_training(task, train_loop_options(c, dir, "backbone (SimMIM)", iters));
    // The probe: frames the pretraining never saw, the trained network against its initialisation.
    const int64_t n_probe = std::max<int64_t>(64, n_frames / 2);
    const auto probe_set = backbone_frames(c, n_frames, 2 * n_probe, d.patch_size);
    auto tr = torch::arange(n_probe), te = torch::arange(n_probe, 2 * n_probe);
    auto acc = [&](const torch::Tensor& f) {
      return linear_probe_accuracy(f.index_select(0, tr), probe_set.shape.index_select(0, tr), f.index_select(0, te),
                                   probe_set.shape.index_select(0, te), 4, kProbeRidge);
    };
    const auto ft = probe_features(m, probe_set), fr = probe_features(random_init, probe_set);
    std::vector<double> acc_t, acc_r;
    for (std::size_t l = 0; l < ft.size(); ++l) {
      acc_t.push_back(acc(ft[l]));
      acc_r.push_back(acc(fr[l]));
    }
    // Reported: the best block of each network (what a discriminator head could tap).
    const double acc_trained = *std::max_element(acc_t.begin() + 1, acc_t.end());
    const double acc_random = *std::max_element(acc_r.begin() + 1, acc_r.end());
    auto counts = torch::bincount(probe_set.shape.index_select(0, te), {}, 4).to(torch::kDouble);
    const double chance = (counts.max() / counts.sum()).item<double>();
    const nlohmann::json record = {
        {"objective", "SimMIM: masked patches (mask token) -> linear head -> pixels, L1 on masked patches"},
        {"frames", {{"generator", "synthetic, 1 frame per clip"}, {"seed", frames_seed(c)}, {"count", n_frames}}},
        {"steps", s.total_steps}, {"first_loss", first_loss(dir / "metrics.jsonl")}, {"final_loss", last_loss(dir / "metrics.jsonl")},
        {"seconds_this_call", s.seconds},
        {"data_parallel", data_parallel_json(c.get<long long>("disc.backbone_pretrain_batch"))},
        {"skipped_nonfinite", s.skipped_nonfinite},
        {"linear_probe", {{"target", "shape of the top object (4 classes)"},
                          {"features", "the 3 x 3 tokens around the patch under the object's centre, per hidden state "
                                       "(0 = patch embedding, i = after block i); best block reported"},
                          {"train_frames", n_probe}, {"test_frames", n_probe}, {"ridge", kProbeRidge},
                          {"accuracy_pretrained", acc_trained}, {"accuracy_random_init", acc_random},
                          {"per_layer_pretrained", acc_t}, {"per_layer_random_init", acc_r},
                          {"majority_class", chance}}}};
    log::info("backbone: SimMIM loss {:.4f} (first 10 steps) -> {:.4f} (last 50); linear probe of the top object's "
              "shape on the 3 x 3 tokens around its centre, best block: pretrained {:.3f} vs random init {:.3f} (majority class {:.3f}); "
              "per layer pretrained [{:.3f}] random [{:.3f}]",
              first_loss(dir / "metrics.jsonl"), last_loss(dir / "metrics.jsonl"), acc_trained, acc_random, chance,
              fmt::join(acc_t, ", "), fmt::join(acc_r, ", "));
    return [m, out, seed, fseed = frames_seed(c), steps = s.total_steps, dir, record, j]() {  // rank 0 only
      atomic_write(dir / "pretrain.json", record.dump(2) + "\n");
      atomic_write(dir / "config.json", j.dump(2));
      save_weights(*m, out,
                   {{"init", fmt::format("seeded (seed {}), pretrained by masked image modelling on synthetic frames "
                                         "(seed {}), {} steps",
                                         seed, fseed, steps)}});  // last: marks done
    };
  });
  return dir;
}

}  // namespace osv
