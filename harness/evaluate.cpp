#include "harness/evaluate.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <ATen/CPUGeneratorImpl.h>

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>

#include "common/build_info.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/progress.h"
#include "datasets/clip_set.h"
#include "datasets/video_io.h"
#include "dist/dist.h"
#include "harness/assets.h"
#include "harness/sharded_features.h"
#include "methods/api/registry.h"
#include "methods/svd/embedded.h"
#include "methods/svd/svd_pipeline.h"
#include "metrics/fvd/detector.h"
#include "metrics/fvd/video_stats.h"
#include "reports/provenance.h"

namespace osv {
namespace fs = std::filesystem;

SampleOptions sample_options(const Config& c) {
  SampleOptions o;
  o.steps = static_cast<int>(c.get<long long>("sample.steps"));
  o.sampler = c.get<std::string>("sample.sampler");
  o.cfg = c.get<bool>("sample.cfg");
  o.cfg_min = static_cast<float>(c.get<double>("sample.cfg_min"));
  o.cfg_max = static_cast<float>(c.get<double>("sample.cfg_max"));
  o.seed = static_cast<uint64_t>(c.get<long long>("sample.seed"));
  return o;
}

torch::Tensor apply_fault(const std::string& fault, const torch::Tensor& latents, const torch::Tensor& noise,
                          uint64_t seed) {
  if (fault == "none" || fault == "black_video") return latents;  // black_video acts after decoding
  if (fault == "raw_noise") return noise.to(latents.options());  // a sampler that returns its starting noise
  if (fault == "noisy_latents") {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 777);
    return latents + 0.5 * torch::randn(latents.sizes(), gen).to(latents.options());
  }
  throw UsageError(fmt::format("debug.fault: unknown fault '{}'", fault));
}

// MKL (inside LibTorch's CPU library on x86) keeps its GEMM work buffers after use; absent from
// builds without MKL, hence weak.
extern "C" void mkl_serv_free_buffers() __attribute__((weak));

namespace {
// Returns memory freed by a finished phase to the system: glibc's free heap pages (malloc_trim) and
// MKL's cached GEMM buffers, so the next phase's peak does not stack on the last one's leftovers.
void release_cached_memory() {
  if (mkl_serv_free_buffers) mkl_serv_free_buffers();
  ::malloc_trim(0);
}
}  // namespace

FrameSpool::FrameSpool() {
  const char* env = std::getenv("TMPDIR");
  const std::string dir = env && *env ? env : "/tmp";
  fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ < 0) {  // a file system without O_TMPFILE: a named file, unlinked at once
    std::string name = dir + "/osvbench-frames-XXXXXX";
    fd_ = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd_ >= 0) ::unlink(name.c_str());
  }
  if (fd_ < 0) throw InputError(fmt::format("cannot create a temporary file in {}: {}", dir, std::strerror(errno)));
}

FrameSpool::~FrameSpool() {
  if (fd_ >= 0) ::close(fd_);
}

void FrameSpool::append(const torch::Tensor& frames) {
  if (frames.dim() != 4 || frames.scalar_type() != torch::kUInt8)
    throw std::invalid_argument("FrameSpool::append: expected uint8 [b, 3, H, W]");
  const auto shape = frames.sizes().slice(1).vec();
  if (frame_shape_.empty()) frame_shape_ = shape;
  if (shape != frame_shape_)
    throw InputError(fmt::format("conditioning frames of size [{}] after frames of size [{}]", fmt::join(shape, ", "),
                                 fmt::join(frame_shape_, ", ")));
  if (frames.size(0) == 0) return;
  const auto c = frames.to(torch::kCPU).contiguous();
  const auto bytes = static_cast<std::size_t>(c.numel());
  const auto frame_bytes = static_cast<std::size_t>(c[0].numel());
  const auto* p = static_cast<const char*>(c.data_ptr());
  auto off = static_cast<off_t>(count_ * static_cast<int64_t>(frame_bytes));
  for (std::size_t done = 0; done < bytes;) {
    const auto w = ::pwrite(fd_, p + done, bytes - done, off + static_cast<off_t>(done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      throw InputError(fmt::format("writing conditioning frames to a temporary file: {}",
                                   w == 0 ? "no space written" : std::strerror(errno)));
    done += static_cast<std::size_t>(w);
  }
  count_ += c.size(0);
}

torch::Tensor FrameSpool::read(int64_t begin, int64_t end) const {
  if (begin < 0 || end > count_ || begin > end)
    throw std::out_of_range(fmt::format("FrameSpool::read [{}, {}) of {} frames", begin, end, count_));
  std::vector<int64_t> shape{end - begin};
  shape.insert(shape.end(), frame_shape_.begin(), frame_shape_.end());
  auto t = torch::empty(shape, torch::kUInt8);
  if (end == begin) return t;
  const auto bytes = static_cast<std::size_t>(t.numel());
  auto* p = static_cast<char*>(t.data_ptr());
  const auto off = static_cast<off_t>(begin * (t.numel() / (end - begin)));
  for (std::size_t done = 0; done < bytes;) {
    const auto r = ::pread(fd_, p + done, bytes - done, off + static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw InputError(fmt::format("reading conditioning frames back from a temporary file: {}",
                                             r == 0 ? "short file" : std::strerror(errno)));
    done += static_cast<std::size_t>(r);
  }
  return t;
}

Generated generate_videos(Method& method, SvdPipeline& pipe, const torch::Tensor& first_frames, const SampleOptions& o,
                          int64_t frames, int64_t batch, double progress_interval_s, const std::string& label,
                          const std::string& fault, const VideoSink& sink) {
  return generate_videos(
      method, pipe, first_frames.size(0), [&](int64_t b, int64_t e) { return first_frames.slice(0, b, e); }, o, frames,
      batch, progress_interval_s, label, fault, sink);
}

Generated generate_videos(Method& method, SvdPipeline& pipe, int64_t N, const FrameSource& first_frames,
                          const SampleOptions& o, int64_t frames, int64_t batch, double progress_interval_s,
                          const std::string& label, const std::string& fault, const VideoSink& sink,
                          const BatchFilter& take) {
  double sink_s = 0;
  Generated g;
  std::vector<torch::Tensor> out;
  int64_t share = 0;
  for (int64_t b = 0; b < N; b += batch)
    if (!take || take(b)) share += std::min(N, b + batch) - b;
  Progress::Options po;
  po.unit = "clip";
  po.interval_s = progress_interval_s;
  Progress bar(share, label, po);
  const auto t0 = std::chrono::steady_clock::now();
  const auto& ucfg = pipe.models().unet->config();
  for (int64_t b = 0; b < N; b += batch) {
    const int64_t e = std::min(N, b + batch);
    if (take && !take(b)) continue;
    auto ff = first_frames(b, e);
    std::vector<torch::Tensor> aug, noise;
    const int64_t H = ff.size(2), W = ff.size(3);
    const int64_t factor = int64_t{1} << (pipe.models().vae->config().block_out_channels.size() - 1);
    for (int64_t i = b; i < e; ++i) {
      torch::manual_seed(o.seed * 1000003ULL + static_cast<uint64_t>(i));
      aug.push_back(torch::randn({3, H, W}));
      noise.push_back(torch::randn({frames, ucfg.out_channels, H / factor, W / factor}));
    }
    auto cond = pipe.encode_conditioning(ff, torch::stack(aug));
    auto start = torch::stack(noise).to(pipe.device());
    auto r = method.sample(cond, start, o);
    g.nfe = r.nfe;
    auto video = pipe.decode(apply_fault(fault, r.latents, start, o.seed + static_cast<uint64_t>(b)));
    if (fault == "black_video") video.zero_();
    if (sink) {
      const auto s0 = std::chrono::steady_clock::now();
      sink(video, b);
      sink_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
    } else {
      out.push_back(video);
    }
    bar.advance(e - b);
  }
  bar.finish();
  if (!sink && !out.empty()) g.videos = torch::cat(out);
  g.clips = share;
  g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - sink_s;
  if (share > 0) {
    g.latency_s = g.seconds / static_cast<double>(share);
    g.clips_per_s = static_cast<double>(share) / g.seconds;
  }
  return g;
}

Evaluator::Evaluator(const Config& base) : base_(base) {
  ConfigReadLog reads;
  pipe_ = std::make_shared<SvdPipeline>(ensure_svd_folder(base), base);
  detector_ = make_detector(base);
  const int64_t n_real = base.get<long long>("fvd.num_real");
  const int64_t n_fake = base.get<long long>("sample.num_samples");
  const int64_t fvd_frames = base.get<long long>("fvd.frames");
  // One pass over the held-out clips: the first n_real into the real statistics (in batches of 16,
  // as the detector always sees them; in a process group batch j on rank j mod world), the first
  // frames of the first n_fake kept (by every rank: each samples its share of them).
  real_ = make_stats_for(*detector_, 0, fvd_frames, true);
  ShardedFeatures features;
  int64_t seen = 0, batches = 0;
  const auto report = for_each_clip_batch(clip_split(base, "test"), base, std::max(n_real, n_fake), 16,
                                          [&](const torch::Tensor& b) {
                                            const int64_t bn = b.size(0);
                                            if (seen < n_fake)
                                              first_.append(b.slice(0, 0, std::min(bn, n_fake - seen)).select(1, 0));
                                            if (seen < n_real) {
                                              if (ShardedFeatures::mine(batches))
                                                features.put(batches, checked_features(*detector_, b.slice(0, 0, std::min(bn, n_real - seen))
                                                                                                       .slice(1, 0, fvd_frames)));
                                              ++batches;
                                            }
                                            seen += bn;
                                          });
  features.add_to(real_, *detector_, fvd_frames, batches, "the held-out clips");
  if (seen < n_real || seen < n_fake)
    log::warn("only {} test clips load; fvd.num_real {} / sample.num_samples {} are capped to it", seen, n_real, n_fake);
  log::info("real statistics: {} held-out clips ({})", real_.count(), report.summary());
  reads_ = reads.keys();
  release_cached_memory();  // the held-out clips' decoded frames and activations are freed
}

Evaluator::~Evaluator() = default;

nlohmann::json Evaluator::run_row(const Config& c, const fs::path& videos_dir) {
  const auto& info = MethodRegistry::instance().get(c.get<std::string>("method"));
  auto method = info.create(c, pipe_);
  const auto o = sample_options(c);
  const int64_t n = std::min<int64_t>(c.get<long long>("sample.num_samples"), first_.count());
  const int64_t T = c.get<long long>("data.frames");
  const int64_t fvd_frames = c.get<long long>("fvd.frames");
  const auto label = fmt::format("{} {} {} step(s){}", info.name, o.sampler, o.steps,
                                 o.cfg ? fmt::format(" cfg {}", o.cfg_max) : "");
  // Streamed: the first 8 clips are written as sample videos (and the grid), and the clips go to the
  // detector in batches of 16 (clips [16 j, 16 j + 16)), as it saw them when clips were held whole.
  // In a process group detector batch j (two sampling batches of 8) is rank j mod world's.
  constexpr int64_t kDetectorBatch = 16, kSampleBatch = 8;
  static_assert(kDetectorBatch % kSampleBatch == 0, "a sampling batch lies in one detector batch");
  FrechetStats fake = make_stats_for(*detector_, 0, fvd_frames, true);
  ShardedFeatures features;
  std::map<int64_t, std::vector<torch::Tensor>> partial;  // detector batch -> its clips decoded so far
  std::vector<torch::Tensor> shown;
  int64_t shown_n = 0;
  if (!videos_dir.empty()) fs::create_directories(videos_dir);
  auto sink = [&](const torch::Tensor& v, int64_t first) {
    for (int64_t i = 0; i < v.size(0) && first + i < 8 && !videos_dir.empty(); ++i)
      write_video(videos_dir / fmt::format("{:05d}.mp4", first + i), v[i], c.get<double>("data.fps"));
    if (first < 8 && shown_n < 8) {
      shown.push_back(v.slice(0, 0, std::min<int64_t>(v.size(0), 8 - shown_n)));
      shown_n += shown.back().size(0);
    }
    const int64_t j = first / kDetectorBatch;
    auto& parts = partial[j];
    parts.push_back(v);
    int64_t have = 0;
    for (const auto& p : parts) have += p.size(0);
    if (have < std::min(kDetectorBatch, n - j * kDetectorBatch)) return;
    std::vector<std::string> names;
    for (int64_t i = 0; i < have; ++i) names.push_back(fmt::format("{} clip #{}", label, j * kDetectorBatch + i));
    features.put(j, checked_features(*detector_, torch::cat(parts).slice(1, 0, fvd_frames), names));
    partial.erase(j);
  };
  // A row the method refuses (a UsageError or NotImplementedError from its sampler) is refused on
  // every rank: a rank that owns no batch never calls the sampler, so the ranks agree on the error
  // before the next collective.
  Generated g;
  std::exception_ptr failed;
  try {
    g = generate_videos(*method, *pipe_, n, [&](int64_t b, int64_t e) { return first_.read(b, e); }, o, T,
                        kSampleBatch, c.get<double>("run.progress_interval_s"), label,
                        c.get<std::string>("debug.fault"), sink,
                        [](int64_t b) { return ShardedFeatures::mine(b / kDetectorBatch); });
  } catch (...) {
    failed = std::current_exception();
  }
  dist::rethrow_on_every_rank(failed);
  const int64_t world = dist::world();
  features.add_to(fake, *detector_, fvd_frames, (n + kDetectorBatch - 1) / kDetectorBatch, label);
  if (!dist::is_main()) {
    release_cached_memory();
    return nullptr;
  }
  // The clips', the detector's and the sampler's freed memory goes back to the system before the
  // Fréchet distance and its bootstrap allocate theirs (else the process's peak stacks the phases).
  release_cached_memory();
  if (!videos_dir.empty() && !shown.empty()) write_frame_grid(videos_dir / "grid.png", torch::cat(shown));
  FvdOptions fo;
  fo.normaliser = parse_cov_normaliser(c.get<std::string>("fvd.cov_normaliser"));
  fo.bootstrap = static_cast<int>(c.get<long long>("fvd.bootstrap"));
  fo.seed = static_cast<uint64_t>(c.get<long long>("fvd.bootstrap_seed"));
  const auto r = compute_fvd(real_, fake, fo);
  release_cached_memory();  // the Fréchet distance's GEMM buffers, before the next row samples
  nlohmann::json row = {{"method", info.name},
                        {"sampler", o.sampler},
                        {"steps", o.steps},
                        {"cfg", o.cfg ? nlohmann::json(o.cfg_max) : nlohmann::json("none")},
                        {"cfg_min", o.cfg_min},
                        {"nfe", g.nfe},
                        {"fvd", r.fvd},
                        {"n_real", r.n_real},
                        {"n_fake", r.n_fake},
                        {"mean_bias", r.mean_bias},
                        {"latency_s_per_clip", g.latency_s},
                        // every rank's clips over rank 0's wall time (ranks sample at once)
                        {"clips_per_s", g.clips_per_s * static_cast<double>(n) / static_cast<double>(std::max<int64_t>(g.clips, 1))},
                        {"world_size", world},
                        {"peak_rss_mib", peak_rss_mib()},
                        {"weights", method->weights_id()},
                        {"config_hash", c.hash()},
                        {"sample_seed", o.seed},
                        {"fault", c.get<std::string>("debug.fault")},
                        {"detector", real_.info}};
  if (r.ci_low) row["ci"] = ci_json(r);
  if (r.real_tail_share) row["real_tail_share"] = *r.real_tail_share;
  if (r.fake_tail_share) row["fake_tail_share"] = *r.fake_tail_share;
  if (const auto w = heavy_tail_warning(r); !w.empty()) log::warn("{} {} steps: {}", info.name, o.steps, w);
  row["provenance"] = provenance(c);
  return row;
}

nlohmann::json Evaluator::run_reconstruction(const Config& c, const fs::path& videos_dir, bool with_floor) {
  if (dist::world() > 1) throw UsageError("the VAE's reconstruction row runs as one process");
  const int64_t n = std::min<int64_t>(c.get<long long>("sample.num_samples"), first_.count());
  const int64_t fvd_frames = c.get<long long>("fvd.frames");
  const double fps = c.get<double>("data.fps");
  constexpr int64_t kDetectorBatch = 16;
  FvdOptions fo;
  fo.normaliser = parse_cov_normaliser(c.get<std::string>("fvd.cov_normaliser"));
  fo.bootstrap = static_cast<int>(c.get<long long>("fvd.bootstrap"));
  fo.seed = static_cast<uint64_t>(c.get<long long>("fvd.bootstrap_seed"));
  if (!videos_dir.empty()) fs::create_directories(videos_dir);
  // The held-out clips in detector batches of 16, as the real statistics and every row saw them.
  FrechetStats recon = make_stats_for(*detector_, 0, fvd_frames, true);
  ShardedFeatures features;
  int64_t seen = 0, batches = 0;
  double vae_s = 0, mse = 0;
  std::vector<torch::Tensor> shown;
  Progress::Options po;
  po.interval_s = c.get<double>("run.progress_interval_s");
  po.unit = "clips";
  Progress bar(n, "reconstruct (VAE encode + decode)", po);
  const auto report = for_each_clip_batch(clip_split(c, "test"), c, n, kDetectorBatch, [&](const torch::Tensor& b) {
    const auto t0 = std::chrono::steady_clock::now();
    torch::Tensor rec;  // uint8 [b, T, 3, H, W]
    {
      torch::NoGradGuard ng;
      rec = pipe_->decode(pipe_->encode_video(b));
    }
    vae_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (int64_t i = 0; i < rec.size(0); ++i)  // per clip: a float copy of one clip, not of the batch
      mse += (rec[i].to(torch::kFloat32) - b[i].to(torch::kFloat32)).div(255.0f).pow(2).mean().item<double>();
    for (int64_t i = 0; i < rec.size(0) && !videos_dir.empty(); ++i)
      write_video(videos_dir / fmt::format("{:05d}.mp4", seen + i), rec[i], fps);
    if (seen < 8) shown.push_back(torch::cat({b, rec}, 4).slice(0, 0, std::min<int64_t>(rec.size(0), 8 - seen)));
    std::vector<std::string> names;
    for (int64_t i = 0; i < rec.size(0); ++i) names.push_back(fmt::format("reconstruction of held-out clip #{}", seen + i));
    features.put(batches++, checked_features(*detector_, rec.slice(1, 0, fvd_frames), names));
    seen += rec.size(0);
    bar.advance(rec.size(0));
  });
  bar.finish();
  features.add_to(recon, *detector_, fvd_frames, batches, "the reconstructions");
  release_cached_memory();
  if (!videos_dir.empty() && !shown.empty()) write_frame_grid(videos_dir / "grid.png", torch::cat(shown));
  const auto r = compute_fvd(real_, recon, fo);
  nlohmann::json row = {{"method", "vae"},
                        {"sampler", "reconstruction"},
                        {"steps", 0},
                        {"cfg", "none"},
                        {"nfe", 0},
                        {"fvd", r.fvd},
                        {"n_real", r.n_real},
                        {"n_fake", r.n_fake},
                        {"mean_bias", r.mean_bias},
                        {"pixel_mse", mse / static_cast<double>(std::max<int64_t>(seen, 1))},
                        {"latency_s_per_clip", vae_s / static_cast<double>(std::max<int64_t>(seen, 1))},
                        {"world_size", 1},
                        {"peak_rss_mib", peak_rss_mib()},
                        {"weights", "svd:" + pipe_->models().root.string()},
                        {"config_hash", c.hash()},
                        {"data", report.summary()},
                        {"detector", real_.info}};
  if (r.ci_low) row["ci"] = ci_json(r);
  if (const auto w = heavy_tail_warning(r); !w.empty()) log::warn("reconstruction: {}", w);
  if (with_floor) {
    // As many training clips, in the same batches: the FVD two real sets of this N are apart.
    FrechetStats train = make_stats_for(*detector_, 0, fvd_frames, true);
    ShardedFeatures tf;
    int64_t tb = 0;
    for_each_clip_batch(clip_split(c, "train"), c, seen, kDetectorBatch, [&](const torch::Tensor& b) {
      tf.put(tb++, checked_features(*detector_, b.slice(1, 0, fvd_frames)));
    });
    tf.add_to(train, *detector_, fvd_frames, tb, "the training clips");
    const auto f = compute_fvd(real_, train, fo);
    nlohmann::json floor = {{"what", "training clips vs the held-out clips"}, {"fvd", f.fvd}, {"n_real", f.n_real},
                            {"n_fake", f.n_fake}};
    if (f.ci_low) floor["ci"] = ci_json(f);
    row["floor"] = floor;
    if (f.fvd > 0) row["ratio_to_floor"] = r.fvd / f.fvd;
    release_cached_memory();
  }
  row["provenance"] = provenance(c);
  return row;
}

}  // namespace osv
