#include "datasets/clip_set.h"

#include <fmt/format.h>

#include <mutex>
#include <set>
#include <vector>

#include "common/errors.h"
#include "common/log.h"
#include "common/sha256.h"
#include "datasets/loader.h"

namespace osv {
namespace fs = std::filesystem;

DecodeOptions decode_options(const Config& c, int64_t frames) {
  DecodeOptions d;
  d.frames = frames > 0 ? frames : c.get<long long>("data.frames");
  d.fps = c.get<double>("data.fps");
  d.height = c.get<long long>("data.height");
  d.width = c.get<long long>("data.width");
  return d;
}

std::string ClipSplit::name() const {
  if (kind != FolderKind::OpenVid) return root.string();
  return fmt::format("{} ({} split, seed {})", csv.string(), split, seed);
}

namespace {
ClipSplit folder_split(const fs::path& dir) {
  ClipSplit s;
  s.root = dir;
  return s;
}
}  // namespace

ClipSet load_clip_folder(const fs::path& dir, const Config& c, int64_t max_clips, int threads) {
  return load_clips(folder_split(dir), c, max_clips, threads);
}

ClipSet load_clips(const ClipSplit& split, const Config& c, int64_t max_clips, int threads) {
  ClipSet set;
  std::vector<torch::Tensor> batches;
  set.report = for_each_clip_batch(
      split, c, max_clips, 64, [&](const torch::Tensor& b) { batches.push_back(b); }, threads, &set.files);
  set.videos = torch::cat(batches);
  return set;
}

DataReport for_each_clip_batch(const fs::path& dir, const Config& c, int64_t max_clips, int64_t batch,
                               const std::function<void(const torch::Tensor&)>& fn, int threads,
                               std::vector<fs::path>* files) {
  return for_each_clip_batch(folder_split(dir), c, max_clips, batch, fn, threads, files);
}

DataReport for_each_clip_batch(const ClipSplit& split, const Config& c, int64_t max_clips, int64_t batch,
                               const std::function<void(const torch::Tensor&)>& fn, int threads,
                               std::vector<fs::path>* files) {
  VideoFolderDataset ds(split.kind, split.root, split.csv);
  const DecodeOptions d = decode_options(c);
  std::vector<int64_t> order;
  if (split.kind == FolderKind::OpenVid) {
    const auto [train, test] = ds.split(split.num_test, split.seed);
    const auto& rows = split.split == "test" ? test : train;
    for (const auto i : rows) order.push_back(static_cast<int64_t>(i));
    if (split.split != "test" && split.num_train > 0 && static_cast<int64_t>(order.size()) > split.num_train)
      order.resize(static_cast<std::size_t>(split.num_train));
  } else {
    for (int64_t i = 0; i < static_cast<int64_t>(ds.entries().size()); ++i) order.push_back(i);
  }
  if (max_clips > 0 && static_cast<int64_t>(order.size()) > max_clips) order.resize(static_cast<std::size_t>(max_clips));
  std::mutex mu;
  std::set<int64_t> kept;  // indices that decoded, for `files`
  ClipLoader loader(order, [&](int64_t i) -> std::optional<torch::Tensor> {
    std::lock_guard<std::mutex> lock(mu);  // the dataset's report is not thread-safe; decoding dominates anyway
    auto v = ds.load(static_cast<std::size_t>(i), d);
    if (v) kept.insert(i);
    return v;
  }, threads);
  int64_t loaded = 0;
  for (auto b = loader.next_batch(batch); b.defined(); b = loader.next_batch(batch)) {
    loaded += b.size(0);
    fn(b);
  }
  if (files)
    for (const auto i : kept) files->push_back(ds.entries()[static_cast<std::size_t>(i)].path);
  auto report = ds.report();
  if (loaded == 0) throw InputError(fmt::format("{}: no clip could be loaded ({})", split.name(), report.summary()));
  if (report.skipped_count() > 0) log::warn("{}: {}", split.name(), report.summary());
  return report;
}

std::string synthetic_data_dir(const Config& c) {
  nlohmann::json key = {{"frames", c.at("data.frames")}, {"height", c.at("data.height")}, {"width", c.at("data.width")},
                        {"fps", c.at("data.fps")},       {"num_train", c.at("data.num_train")},
                        {"num_test", c.at("data.num_test")}, {"seed", c.at("data.split_seed")}};
  return (fs::path(c.get<std::string>("run.root")) / "assets" / ("synthetic-" + sha256_hex(key.dump()).substr(0, 12)))
      .string();
}

ClipSplit clip_split(const Config& c, const std::string& split) {
  const auto source = c.get<std::string>("data.source");
  ClipSplit s;
  s.split = split;
  if (source == "synthetic") {
    s.root = fs::path(synthetic_data_dir(c)) / split;
    if (!fs::exists(s.root))
      throw InputError(fmt::format("the synthetic {} split is missing ({}); run `osvbench prepare` first", split,
                                   s.root.string()));
    return s;
  }
  if (source == "openvid") {
    s.kind = FolderKind::OpenVid;
    s.root = c.get<std::string>("data.root");
    s.csv = c.get<std::string>("data.csv");
    if (s.csv.empty() || !fs::is_regular_file(s.csv))
      throw InputError(fmt::format("data.source=openvid needs data.csv, the OpenVid-1M CSV (got '{}')", s.csv.string()));
    if (s.root.empty() || !fs::is_directory(s.root))
      throw InputError(fmt::format("data.source=openvid needs data.root, the folder its CSV's videos are in (got '{}')",
                                   s.root.string()));
    s.num_test = c.get<long long>("data.num_test");
    s.num_train = c.get<long long>("data.num_train");
    s.seed = static_cast<uint64_t>(c.get<long long>("data.split_seed"));
    return s;
  }
  if (source == "mp4_folder" || source == "frames_folder") {
    s.kind = source == "frames_folder" ? FolderKind::Frames : FolderKind::Videos;
    s.root = fs::path(c.get<std::string>("data.root")) / split;
    if (!fs::exists(s.root)) throw InputError(fmt::format("data.root has no {} folder: {}", split, s.root.string()));
    return s;
  }
  throw InputError(fmt::format("data.source '{}': expected synthetic, openvid, mp4_folder or frames_folder", source));
}

}  // namespace osv
