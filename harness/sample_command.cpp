// `osvbench sample`: animates first frames (images, or the test split's) with one method and
// writes the videos, a frame grid and samples.json (osvbench.samples/1).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <memory>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "common/run_dir.h"
#include "common/text.h"
#include "datasets/clip_set.h"
#include "datasets/video_io.h"
#include "harness/evaluate.h"
#include "harness/options.h"
#include "harness/assets.h"
#include "harness/results.h"
#include "methods/api/registry.h"
#include "methods/svd/svd_pipeline.h"
#include "models/device.h"
#include "reports/provenance.h"

namespace osv {
namespace fs = std::filesystem;
namespace {

struct SampleArgs {
  CommonOptions c;
  std::string method, sampler, cfg, out;
  int steps = 0, num = 0;
  std::vector<std::string> images;
};

void sample(const Config& cfg, const std::vector<std::string>& images, const std::string& out_arg) {
  const auto& info = MethodRegistry::instance().get(cfg.get<std::string>("method"));
  auto pipe = std::make_shared<SvdPipeline>(ensure_svd_folder(cfg), cfg);
  auto method = info.create(cfg, pipe);
  const int64_t H = cfg.get<long long>("data.height"), W = cfg.get<long long>("data.width");
  torch::Tensor first;
  std::vector<std::string> names;
  if (!images.empty()) {
    std::vector<torch::Tensor> f;
    DecodeOptions d;
    d.frames = 1;
    d.height = H;
    d.width = W;
    for (const auto& p : images) {
      f.push_back(decode_video(p, d).frames[0]);  // an image decodes as a one-frame video
      names.push_back(fs::path(p).stem().string());
    }
    first = torch::stack(f);
  } else {
    const int64_t n = cfg.get<long long>("sample.num_samples");
    auto set = load_clips(clip_split(cfg, "test"), cfg, n);
    first = set.videos.select(1, 0).contiguous();
    for (const auto& p : set.files) names.push_back(p.stem().string());
  }
  const auto o = sample_options(cfg);
  const fs::path out = out_arg.empty() ? RunDir::open(cfg).path() / "samples" : fs::path(out_arg);
  fs::create_directories(out);
  auto g = generate_videos(*method, *pipe, first, o, cfg.get<long long>("data.frames"), 8,
                           cfg.get<double>("run.progress_interval_s"), "sample " + info.name);
  for (int64_t i = 0; i < g.videos.size(0); ++i)
    write_video(out / (names[static_cast<std::size_t>(i)] + ".mp4"), g.videos[i], cfg.get<double>("data.fps"));
  write_frame_grid(out / "grid.png", g.videos.slice(0, 0, std::min<int64_t>(16, g.videos.size(0))));
  SamplesResult r;
  r.method = info.name;
  r.sampler = o.sampler;
  r.steps = o.steps;
  r.cfg = o.cfg ? nlohmann::json(o.cfg_max) : nlohmann::json("none");
  r.nfe = g.nfe;
  r.clips = g.videos.size(0);
  r.seconds = g.seconds;
  r.weights = method->weights_id();
  r.inputs = images.empty() ? nlohmann::json("test split") : nlohmann::json(images);
  r.provenance = provenance(cfg);
  atomic_write(out / "samples.json", r.to_json().dump(2) + "\n");
  std::cout << fmt::format("{} clips by {} ({} {} step(s), {} NFE per clip, {:.2f} s per clip) -> {}\n",
                           g.videos.size(0), info.name, o.sampler, o.steps, g.nfe, g.latency_s, out.string());
}

int run(const SampleArgs& a) {
  std::vector<std::string> sugar;
  if (!a.method.empty()) sugar.push_back("method=" + a.method);
  if (a.steps) sugar.push_back(fmt::format("sample.steps={}", a.steps));
  if (!a.sampler.empty()) sugar.push_back("sample.sampler=" + a.sampler);
  if (a.num) sugar.push_back(fmt::format("sample.num_samples={}", a.num));
  if (!a.cfg.empty())
    for (auto& o : cfg_overrides(a.cfg)) sugar.push_back(o);
  Config cfg = resolve_config(a.c, sugar);
  const auto& m = MethodRegistry::instance().get(cfg.get<std::string>("method"));
  // The method's own sampling defaults (OSV: TTS, 1 step, no CFG) under what the user set.
  if (!m.sample_defaults.empty()) cfg = resolve_config(a.c, sugar, m.sample_defaults);
  const auto sampler = cfg.get<std::string>("sample.sampler");
  if (std::find(m.samplers.begin(), m.samplers.end(), sampler) == m.samplers.end())
    throw UsageError(fmt::format("method '{}' does not sample with '{}'; its samplers: {}", m.name, sampler,
                                 join(m.samplers, ", ")));
  parse_device(cfg.get<std::string>("device"));
  if (a.c.dry_run) return print_dry_run(cfg), kExitOk;
  sample(cfg, a.images, a.out);
  return kExitOk;
}

}  // namespace

void add_sample_command(CLI::App& app, CommandSet& set) {
  auto a = std::make_shared<SampleArgs>();
  auto* sub = app.add_subcommand("sample", "Generate videos and a frame grid from first frames or dataset clips");
  add_common(sub, a->c);
  sub->add_option("--method", a->method, "method to sample (config method)");
  sub->add_option("--steps", a->steps, "sampling steps k (config sample.steps)");
  sub->add_option("--sampler", a->sampler, "euler, consistency or tts (config sample.sampler)");
  sub->add_option("--cfg", a->cfg, "CFG w_max (ramp from sample.cfg_min) or 'none'");
  sub->add_option("--num", a->num, "number of clips (config sample.num_samples)");
  sub->add_option("--images", a->images, "first-frame images to animate (default: test-split clips)");
  sub->add_option("--out", a->out, "output folder (default: the run directory)");
  set.add(sub, [a] { return run(*a); });
}

}  // namespace osv
