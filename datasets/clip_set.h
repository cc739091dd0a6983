// A whole split of clips in memory, loaded through the background loader (decode errors are
// skipped and counted), and where the embedded default's synthetic split lives on disk.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <string>

#include "common/config.h"
#include "datasets/folder_dataset.h"

namespace osv {

// A split of the configured data source (clip_split): a folder of videos (synthetic: the prepared
// split; mp4_folder: data.root/<split>), a folder of frame folders (frames_folder: data.root/<split>),
// or OpenVid-1M: the rows of data.csv whose video exists under data.root, split by a seeded shuffle
// (data.split_seed) into data.num_test test clips and the train clips (the first data.num_train of
// them in row order when that is set). CSV rows whose file is missing are skipped and counted
// before the split is drawn.
struct ClipSplit {
  FolderKind kind = FolderKind::Videos;
  std::filesystem::path root;  // the folder; OpenVid: the folder its CSV's `video` paths are relative to
  std::filesystem::path csv;   // OpenVid
  std::string split = "test";  // "train" | "test" (OpenVid: which part of the seeded split)
  int64_t num_test = 0, num_train = 0;
  uint64_t seed = 0;
  std::string name() const;  // for messages and reports: the folder, or "<csv> (<split> split, seed N)"
};

struct ClipSet {
  torch::Tensor videos;  // uint8 [N, T, 3, H, W]
  std::vector<std::filesystem::path> files;  // the file of each clip (broken files skipped)
  DataReport report;
};

// data.fps / data.height / data.width with `frames` frames (0: data.frames).
DecodeOptions decode_options(const Config& config, int64_t frames = 0);

// The clips of a folder of videos in name order (at most `max_clips`, 0 = all), decoded as the
// config's data.* says (frames, fps, height, width). Throws osv::InputError when none load.
ClipSet load_clip_folder(const std::filesystem::path& dir, const Config& config, int64_t max_clips = 0,
                         int threads = 2);
// The same for a split of any source.
ClipSet load_clips(const ClipSplit& split, const Config& config, int64_t max_clips = 0, int threads = 2);

// The same clips streamed: fn(batch) with uint8 [b <= batch, T, 3, H, W] in name order (broken files
// skipped and counted), so memory holds one batch, not the split. `files` (when given) receives the
// files of the clips passed on, in order. Returns the data report; throws osv::InputError when
// none load.
DataReport for_each_clip_batch(const std::filesystem::path& dir, const Config& config, int64_t max_clips,
                               int64_t batch, const std::function<void(const torch::Tensor&)>& fn, int threads = 2,
                               std::vector<std::filesystem::path>* files = nullptr);
DataReport for_each_clip_batch(const ClipSplit& split, const Config& config, int64_t max_clips, int64_t batch,
                               const std::function<void(const torch::Tensor&)>& fn, int threads = 2,
                               std::vector<std::filesystem::path>* files = nullptr);

// <run.root>/assets/synthetic-<hash of the data keys>: holds train/ and test/ (see write_synthetic_set).
std::string synthetic_data_dir(const Config& config);

// The train or test split of the configured data source (see ClipSplit). Throws osv::InputError when
// its folder or CSV is missing.
ClipSplit clip_split(const Config& config, const std::string& split);

}  // namespace osv
