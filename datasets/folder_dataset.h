// Clips from files: a folder of videos (mp4, mkv, webm, mov, avi — and whatever else is in it,
// which is then skipped with its reason), a folder of frame-image folders (one folder per video,
// PNG/JPEG frames in name order), or OpenVid-1M (its CSV plus the video files).
//
// Nothing is dropped silently: every skipped entry is counted by reason in a DataReport.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/video_io.h"

namespace osv {

struct DataReport {
  int64_t loaded = 0;
  std::map<std::string, int64_t> skipped_by_reason;                       // "too short" -> 3
  std::vector<std::pair<std::string, std::string>> skipped;               // (file, full message)
  void skip(const std::string& file, const std::string& message);
  int64_t skipped_count() const;
  nlohmann::json to_json() const;
  std::string summary() const;  // "loaded 10, skipped 3 (too short 2, not a video 1)"
};

struct ClipEntry {
  std::filesystem::path path;  // a video file or a frame folder
  std::string caption;
  bool frames_folder = false;
};

enum class FolderKind { Videos, Frames, OpenVid };

// What a folder given on the command line holds: Frames when it has sub-folders and no files but
// label sidecars (.json), else Videos (whose sub-folders are then skipped and counted).
FolderKind folder_kind_of(const std::filesystem::path& root);

class VideoFolderDataset {
 public:
  // Videos/Frames: `root` is the folder. OpenVid: `root` holds the videos, `csv` the metadata
  // (columns `video` and `caption` required; a missing column is an osv::InputError naming the
  // columns found). CSV rows whose file is missing are skipped as "missing".
  VideoFolderDataset(FolderKind kind, const std::filesystem::path& root, const std::filesystem::path& csv = {});

  const std::vector<ClipEntry>& entries() const { return entries_; }
  // Decodes entry i; on any input problem records it in report() and returns nullopt.
  std::optional<torch::Tensor> load(std::size_t i, const DecodeOptions& o);  // uint8 [T, 3, H, W]
  DataReport& report() { return report_; }

  // The paper's split: `num_test` entries drawn without replacement by a seeded shuffle.
  std::pair<std::vector<std::size_t>, std::vector<std::size_t>> split(int64_t num_test, uint64_t seed) const;

 private:
  FolderKind kind_;
  std::vector<ClipEntry> entries_;
  DataReport report_;
};

// Frames of one frame folder (sorted by name), resized to cover H x W and centre-cropped.
torch::Tensor read_frame_folder(const std::filesystem::path& dir, const DecodeOptions& o);

// Parses one CSV document (RFC 4180 quoting); the first row is the header.
std::vector<std::vector<std::string>> parse_csv(const std::string& text);

}  // namespace osv
