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

ClipSet load_clip_folder(const fs::path& dir, const Config& c, int64_t max_clips, int threads) {
  ClipSet set;
  std::vector<torch::Tensor> batches;
  set.report = for_each_clip_batch(
      dir, c, max_clips, 64, [&](const torch::Tensor& b) { batches.push_back(b); }, threads, &set.files);
  set.videos = torch::cat(batches);
  return set;
}

DataReport for_each_clip_batch(const fs::path& dir, const Config& c, int64_t max_clips, int64_t batch,
                               const std::function<void(const torch::Tensor&)>& fn, int threads,
                               std::vector<fs::path>* files) {
  VideoFolderDataset ds(FolderKind::Videos, dir);
  const DecodeOptions d = decode_options(c);
  int64_t n = static_cast<int64_t>(ds.entries().size());
  if (max_clips > 0) n = std::min(n, max_clips);
  std::vector<int64_t> order(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
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
  if (loaded == 0) throw InputError(fmt::format("{}: no clip could be loaded ({})", dir.string(), report.summary()));
  if (report.skipped_count() > 0) log::warn("{}: {}", dir.string(), report.summary());
  return report;
}

std::string synthetic_data_dir(const Config& c) {
  nlohmann::json key = {{"frames", c.at("data.frames")}, {"height", c.at("data.height")}, {"width", c.at("data.width")},
                        {"fps", c.at("data.fps")},       {"num_train", c.at("data.num_train")},
                        {"num_test", c.at("data.num_test")}, {"seed", c.at("data.split_seed")}};
  return (fs::path(c.get<std::string>("run.root")) / "assets" / ("synthetic-" + sha256_hex(key.dump()).substr(0, 12)))
      .string();
}

fs::path split_dir(const Config& c, const std::string& split) {
  const auto source = c.get<std::string>("data.source");
  fs::path dir;
  if (source == "synthetic") {
    dir = fs::path(synthetic_data_dir(c)) / split;
    if (!fs::exists(dir))
      throw InputError(fmt::format("the synthetic {} split is missing ({}); run `osvbench prepare` first", split,
                                   dir.string()));
    return dir;
  }
  if (source == "mp4_folder") {
    dir = fs::path(c.get<std::string>("data.root")) / split;
    if (!fs::exists(dir)) throw InputError(fmt::format("data.root has no {} folder: {}", split, dir.string()));
    return dir;
  }
  throw InputError(fmt::format("data.source '{}' has no {} split folder here; use synthetic or mp4_folder "
                               "(data.root/train, data.root/test)", source, split));
}

}  // namespace osv
