#include "harness/fvd_command.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <numeric>
#include <random>

#include "common/atomic_file.h"
#include "common/config.h"
#include "common/dir_lock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/sha256.h"
#include "datasets/folder_dataset.h"
#include "dist/dist.h"
#include "harness/assets.h"
#include "harness/options.h"
#include "harness/sharded_features.h"
#include "metrics/fvd/detector.h"
#include "metrics/fvd/embedded_detector.h"
#include "metrics/fvd/frechet.h"
#include "metrics/fvd/protocol.h"
#include "metrics/fvd/video_stats.h"
#include "models/device.h"
#include "reports/provenance.h"

namespace osv {
namespace fs = std::filesystem;

namespace {

// The info keys two sets must share to be comparable.
const char* kIdentity[] = {"detector", "weights_sha256", "preprocess", "features", "frames", "bn_eps"};

FrechetStats stats_from_folder(const Config& c, FvdDetector& detector, const std::string& dir, const FolderRule& rule) {
  VideoFolderDataset ds(folder_kind_of(dir), dir);  // videos, or one frame folder per video
  const auto entries = static_cast<int64_t>(ds.entries().size());
  rule.require_count(entries, dir, "video file(s)");
  // Every video in name order; a seeded subset when the folder holds more than the protocol takes
  // (a broken file is replaced by the next of the shuffled order).
  std::vector<std::size_t> order(ds.entries().size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (rule.count > 0 && entries > rule.count) {
    std::mt19937_64 rng(rule.seed);
    std::shuffle(order.begin(), order.end(), rng);
  }
  const int64_t want = rule.count > 0 ? std::min(rule.count, entries) : entries;
  // Native fps and resolution: the detector's preprocessing resizes from the source.
  DecodeOptions d;
  d.frames = rule.random_window ? 0 : rule.frames;
  FrechetStats stats = make_stats_for(detector, 0, rule.frames, true);
  std::vector<torch::Tensor> batch;
  std::vector<std::string> batch_names;
  Progress::Options po;
  po.unit = "video";
  po.interval_s = c.get<double>("run.progress_interval_s");
  Progress progress(want, "fvd stats " + dir, po);
  // In a process group every rank reads the folder (so all agree on the batches) and runs the
  // detector on its share of the batches (batch i on rank i mod world); the features are then
  // gathered and added in batch order: the statistics one process computes, bit for bit, at the
  // same threads per process.
  int64_t batch_no = 0;
  ShardedFeatures features;
  auto flush = [&] {
    if (batch.empty()) return;
    if (ShardedFeatures::mine(batch_no))
      features.put(batch_no, checked_features(detector, torch::stack(batch), batch_names));
    ++batch_no;
    batch.clear();
    batch_names.clear();
  };
  int64_t used = 0;
  for (std::size_t k = 0; k < order.size() && used < want; ++k) {
    const std::size_t i = order[k];
    const auto& path = ds.entries()[i].path;
    auto v = ds.load(i, d);
    if (!v) continue;
    if (v->size(0) < rule.frames) {
      --ds.report().loaded;
      ds.report().skip(path.string(), fmt::format("too short: {} has {} frame(s), FVD takes {}", path.string(),
                                                  v->size(0), rule.frames));
      continue;
    }
    if (rule.random_window) {  // a window of its own per video, seeded by the subset seed and its name order
      std::mt19937_64 rng(rule.seed ^ (0x9E3779B97F4A7C15ULL * (static_cast<uint64_t>(i) + 1)));
      const int64_t start = std::uniform_int_distribution<int64_t>(0, v->size(0) - rule.frames)(rng);
      *v = v->slice(0, start, start + rule.frames).contiguous();
    } else {
      *v = v->slice(0, 0, rule.frames).contiguous();
    }
    // One batch holds videos of one size; sizes may differ across the folder.
    if (!batch.empty() && batch.front().sizes() != v->sizes()) flush();
    batch.push_back(*v);
    batch_names.push_back(path.string());
    ++used;
    if (batch.size() == 8) flush();
    progress.advance();
  }
  flush();
  progress.finish();
  features.add_to(stats, detector, rule.frames, batch_no, "fvd stats " + dir);
  log::info("{}: {}", dir, ds.report().summary());
  const auto& skipped = ds.report().skipped;
  for (std::size_t i = 0; i < skipped.size() && i < 20; ++i) log::warn("skipped {}", skipped[i].second);
  if (skipped.size() > 20) log::warn("... and {} more skipped files (all listed in the statistics' data_report)", skipped.size() - 20);
  if (stats.count() == 0) throw InputError(fmt::format("{}: no video could be read ({})", dir, ds.report().summary()));
  rule.require_count(stats.count(), dir, "readable video(s)");
  stats.info["data_report"] = ds.report().to_json().dump();
  stats.info["source"] = dir;
  stats.info["folder_rule"] = rule.to_json().dump();
  return stats;
}

// A statistics file, or a folder of videos through the detector (made on first use).
FrechetStats load_set(const Config& c, const std::function<FvdDetector&()>& detector, const std::string& path,
                      const char* role, const FolderRule& rule) {
  if (fs::is_directory(path)) return stats_from_folder(c, detector(), path, rule);
  if (!fs::exists(path)) throw InputError(fmt::format("--{} {}: no such file or folder", role, path));
  auto s = FrechetStats::load(path);
  rule.require_count(s.count(), fmt::format("--{} {}", role, path), "video(s)");
  if (rule.count > 0 && s.count() > rule.count)
    throw InputError(fmt::format("--{} {}: {} video(s), and protocol {} takes {}: make the statistics with the "
                                 "protocol from the videos (fvd compute/stats on the folder takes a seeded subset)",
                                 role, path, s.count(), rule.protocol, rule.count));
  return s;
}

void check_compatible(const FrechetStats& a, const FrechetStats& b, const std::string& what) {
  if (a.dim() != b.dim())
    throw InputError(fmt::format("{}: feature dimensions differ ({} vs {})", what, a.dim(), b.dim()));
  for (const char* k : kIdentity) {
    const auto ia = a.info.find(k), ib = b.info.find(k);
    const std::string va = ia == a.info.end() ? "" : ia->second, vb = ib == b.info.end() ? "" : ib->second;
    if (va != vb) throw InputError(fmt::format("{}: '{}' differs ('{}' vs '{}'); FVD across them is meaningless", what, k, va, vb));
  }
}

}  // namespace

void fvd_stats_command(const Config& config, const std::string& videos, const std::string& output,
                       const FvdProtocol* protocol, bool allow_fewer) {
  auto detector = make_detector(config);
  auto s = stats_from_folder(config, *detector, videos, folder_rule(config, protocol, true, allow_fewer));
  if (!dist::is_main()) return;  // a process group: rank 0 writes
  s.save(output);
  std::cout << fmt::format("{} videos, {}-d {} features ({}) -> {}\n", s.count(), s.dim(), s.info["detector"],
                           s.info["preprocess"], output);
}

void fvd_merge_command(const std::vector<std::string>& inputs, const std::string& output) {
  if (inputs.empty()) throw UsageError("fvd merge: give --in FILE...");
  FrechetStats merged = FrechetStats::load(inputs.front());
  for (std::size_t i = 1; i < inputs.size(); ++i) {
    auto s = FrechetStats::load(inputs[i]);
    check_compatible(merged, s, fmt::format("fvd merge {} + {}", inputs.front(), inputs[i]));
    merged.merge(s);
  }
  merged.save(output);
  std::cout << fmt::format("merged {} file(s): {} videos, {}-d features -> {}\n", inputs.size(), merged.count(),
                           merged.dim(), output);
}

void fvd_compute_command(const Config& config, const std::string& real, const std::string& fake,
                         const std::string& out_json, bool fd_inf, const FvdProtocol* protocol, bool allow_fewer) {
  std::unique_ptr<FvdDetector> det;
  const std::function<FvdDetector&()> detector = [&]() -> FvdDetector& {
    if (!det) det = make_detector(config);
    return *det;
  };
  const auto r = load_set(config, detector, real, "real", folder_rule(config, protocol, true, allow_fewer)),
             f = load_set(config, detector, fake, "fake", folder_rule(config, protocol, false, allow_fewer));
  if (protocol && !protocol->expected_sha256.empty() && r.info.count("weights_sha256") &&
      r.info.at("weights_sha256") != protocol->expected_sha256)
    throw InputError(fmt::format("protocol {} expects detector weights with sha256 {}, got {}", protocol->name,
                                 protocol->expected_sha256, r.info.at("weights_sha256")));
  check_compatible(r, f, "fvd compute");
  FvdOptions o;
  o.normaliser = parse_cov_normaliser(config.get<std::string>("fvd.cov_normaliser"));
  const bool features = r.has_features() && f.has_features();
  o.bootstrap = features ? static_cast<int>(config.get<long long>("fvd.bootstrap")) : 0;
  o.seed = static_cast<uint64_t>(config.get<long long>("fvd.bootstrap_seed"));
  o.fd_inf = fd_inf;
  const auto res = compute_fvd(r, f, o);

  auto get = [&](const char* k) {
    auto it = r.info.find(k);
    return it == r.info.end() ? std::string("unrecorded") : it->second;
  };
  std::cout << fmt::format("FVD {:.4f}", res.fvd);
  if (res.ci_low)
    std::cout << fmt::format("  {:.0f}% CI [{:.4f}, {:.4f}] of the expected FVD at this N, bootstrap se {:.4f} "
                             "({} resamples, seed {})",
                             100 * res.confidence, *res.ci_low, *res.ci_high, *res.se, res.bootstrap,
                             res.bootstrap_seed);
  else
    std::cout << (features ? "  (no CI: fvd.bootstrap=0)" : "  (no CI: the statistics carry no per-video features)");
  std::cout << "\n";
  std::cout << fmt::format("N real {} / fake {}, {}-d features; mean term {:.4f} (of which {:.4f} is expected for "
                           "equal distributions)\n",
                           res.n_real, res.n_fake, res.dim, res.mean_term, res.mean_bias);
  if (res.bias)
    std::cout << fmt::format("bias of FVD at this N (bootstrap estimate of E[FVD_N] - FVD_inf; low when N is near "
                             "the dimension) {:.4f}: FVDs compare only at equal N\n",
                             *res.bias);
  if (res.fd_inf) std::cout << fmt::format("FD-infinity (1/N extrapolation) {:.4f}\n", *res.fd_inf);
  if (res.real_tail_share && res.fake_tail_share)
    std::cout << fmt::format("variance share of the 5% most distant videos: real {:.3f}, generated {:.3f}\n",
                             *res.real_tail_share, *res.fake_tail_share);
  if (const auto w = heavy_tail_warning(res); !w.empty()) std::cout << w << "\n";
  std::cout << fmt::format("detector {} (weights sha256 {}), preprocessing {}, covariance normaliser {}\n",
                           get("detector"), get("weights_sha256").substr(0, 16), get("preprocess"), res.normaliser);

  nlohmann::json j = {{"fvd", res.fvd},
                      {"n_real", res.n_real},
                      {"n_fake", res.n_fake},
                      {"dim", res.dim},
                      {"normaliser", res.normaliser},
                      {"mean_term", res.mean_term},
                      {"mean_bias", res.mean_bias},
                      {"real", real},
                      {"fake", fake},
                      {"detector", r.info}};
  if (res.ci_low) j["ci"] = ci_json(res);
  if (res.fd_inf) j["fd_inf"] = *res.fd_inf;
  if (protocol) {
    j["protocol"] = {{"name", protocol->name},
                     {"description", protocol->description},
                     {"reference", protocol->reference},
                     {"num_real_required", protocol->num_real},
                     {"num_fake_required", protocol->num_fake},
                     {"frames", protocol->frames},
                     {"frame_choice", protocol->frame_choice},
                     {"detector", config.get<std::string>("fvd.detector")},
                     {"preprocess", config.get<std::string>("fvd.preprocess")},
                     {"normaliser", res.normaliser},
                     {"expected_sha256", protocol->expected_sha256.empty() ? nlohmann::json("not known")
                                                                           : nlohmann::json(protocol->expected_sha256)},
                     {"allow_fewer", allow_fewer},
                     {"complete", (protocol->num_real == 0 || res.n_real >= protocol->num_real) &&
                                      (protocol->num_fake == 0 || res.n_fake >= protocol->num_fake)}};
  }
  for (const auto& [set, st] : {std::pair{"real", &r}, std::pair{"fake", &f}})
    if (auto it = st->info.find("folder_rule"); it != st->info.end())
      j["folder_rule"][set] = nlohmann::json::parse(it->second);
  if (res.real_tail_share) j["real_tail_share"] = *res.real_tail_share;
  if (res.fake_tail_share) j["fake_tail_share"] = *res.fake_tail_share;
  j["provenance"] = provenance(config);
  if (!out_json.empty() && dist::is_main()) {  // a process group: rank 0 writes
    atomic_write(out_json, j.dump(2) + "\n");
    std::cout << "wrote " << out_json << "\n";
  }
}

void add_fvd_command(CLI::App& app, CommandSet& set) {
  struct Args {
    CommonOptions stats_c, merge_c, compute_c;
    std::string videos, stats_out, merge_out, real, fake, protocol, compute_out;
    std::vector<std::string> merge_in;
    bool allow_fewer = false, fd_inf = false;
  };
  auto a = std::make_shared<Args>();
  auto* fvd = app.add_subcommand("fvd", "FVD: statistics from videos, merging shards, distance between two sets");
  fvd->require_subcommand(1);
  fvd->footer(
      "fvd.detector=i3d_torchscript loads a TorchScript .pt file, which can execute code it holds: use only files "
      "you trust.\nThe native I3D (fvd.weights=*.safetensors) reads data only.");
  auto* stats = fvd->add_subcommand("stats", "Extract detector features of a folder of videos into a stats file");
  add_common(stats, a->stats_c);
  stats->add_option("--videos", a->videos, "folder of videos (mp4 or frame folders)")->required();
  stats->add_option("--out", a->stats_out, "stats file to write (safetensors)")->required();
  stats->add_option("--protocol", a->protocol, "named protocol: frames, frame choice, count");
  stats->add_flag("--allow-fewer", a->allow_fewer, "with --protocol: accept fewer videos than it takes");
  auto* merge = fvd->add_subcommand("merge", "Merge stats files of shards into one (exact)");
  add_common(merge, a->merge_c);
  merge->add_option("--in", a->merge_in, "stats files to merge")->required();
  merge->add_option("--out", a->merge_out, "merged stats file")->required();
  auto* compute = fvd->add_subcommand("compute", "FVD between two sets (folders of videos or stats files)");
  add_common(compute, a->compute_c);
  compute->add_option("--real", a->real, "reference set: folder of videos, folder of frame folders (PNG/JPEG, one per video) or stats file")->required();
  compute->add_option("--fake", a->fake, "generated set: folder of videos, folder of frame folders (PNG/JPEG, one per video) or stats file")->required();
  compute->add_option("--protocol", a->protocol,
                      "named protocol (osvbench info --protocols): fvd2048_16f, fvd_tf, osv_paper");
  compute->add_flag("--allow-fewer", a->allow_fewer,
                    "with --protocol: compute on fewer videos than the protocol takes (the result states N)");
  compute->add_option("--out", a->compute_out, "also write the result as JSON here");
  compute->add_flag("--fd-inf", a->fd_inf, "also report FD-infinity (1/N extrapolation; needs per-video features)");
  auto run = [a](const CommonOptions& c, const std::function<void(const Config&, const FvdProtocol*)>& body) -> int {
    Config cfg = resolve_config(c, {});
    const FvdProtocol* protocol = a->protocol.empty() ? nullptr : &find_fvd_protocol(a->protocol);
    if (protocol) apply_fvd_protocol(cfg, *protocol);
    if (c.dry_run) return print_dry_run(cfg), kExitOk;
    body(cfg, protocol);
    return kExitOk;
  };
  set.add(stats, [a, run]() -> int {
    return run(a->stats_c, [&](const Config& cfg, const FvdProtocol* p) {
      fvd_stats_command(cfg, a->videos, a->stats_out, p, a->allow_fewer);
    });
  });
  set.add(merge, [a, run]() -> int {
    return run(a->merge_c, [&](const Config&, const FvdProtocol*) { fvd_merge_command(a->merge_in, a->merge_out); });
  });
  set.add(compute, [a, run]() -> int {
    return run(a->compute_c, [&](const Config& cfg, const FvdProtocol* p) {
      fvd_compute_command(cfg, a->real, a->fake, a->compute_out, a->fd_inf, p, a->allow_fewer);
    });
  });
}

}  // namespace osv
