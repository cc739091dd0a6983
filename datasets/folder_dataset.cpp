#include "datasets/folder_dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "common/text.h"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#include <stb/stb_image.h>

namespace osv {
namespace fs = std::filesystem;
namespace F = torch::nn::functional;

void DataReport::skip(const std::string& file, const std::string& message) {
  // The reason is the message's prefix before the first ':' ("too short: x.mp4 (...)").
  const auto colon = message.find(':');
  const std::string reason = colon == std::string::npos ? "error" : message.substr(0, colon);
  ++skipped_by_reason[reason];
  skipped.emplace_back(file, message);
}

int64_t DataReport::skipped_count() const {
  int64_t n = 0;
  for (const auto& [r, c] : skipped_by_reason) n += c;
  return n;
}

nlohmann::json DataReport::to_json() const {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& [f, m] : skipped) files.push_back({{"file", f}, {"reason", m}});
  return {{"loaded", loaded}, {"skipped", skipped_count()}, {"skipped_by_reason", skipped_by_reason}, {"skipped_files", files}};
}

std::string DataReport::summary() const {
  std::string s = fmt::format("loaded {}, skipped {}", loaded, skipped_count());
  if (!skipped_by_reason.empty()) {
    std::vector<std::string> parts;
    for (const auto& [r, c] : skipped_by_reason) parts.push_back(fmt::format("{} {}", r, c));
    s += " (" + join(parts, ", ") + ")";
  }
  return s;
}

std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !field.empty()) {
        row.push_back(field);
        rows.push_back(row);
      }
      row.clear();
      field.clear();
      any = false;
    } else {
      field += c;
      any = true;
    }
  }
  if (any || !field.empty()) {
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

namespace {
bool is_image(const fs::path& p) {
  auto e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  return e == ".png" || e == ".jpg" || e == ".jpeg";
}
}  // namespace

torch::Tensor read_frame_folder(const fs::path& dir, const DecodeOptions& o) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && is_image(e.path())) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw InputError(fmt::format("no frames: {} (no PNG/JPEG files)", dir.string()));
  if (o.frames > 0 && static_cast<int64_t>(files.size()) < o.frames)
    throw InputError(fmt::format("too short: {} ({} frames, need {})", dir.string(), files.size(), o.frames));
  const std::size_t n = o.frames > 0 ? static_cast<std::size_t>(o.frames) : files.size();
  std::vector<torch::Tensor> frames;
  int64_t h0 = -1, w0 = -1;
  for (std::size_t i = 0; i < n; ++i) {
    // The same bounds as a video's (datasets/video_io.h), checked from the header before decoding.
    if (fs::file_size(files[i]) > static_cast<std::uintmax_t>(std::numeric_limits<int>::max()))
      throw InputError(fmt::format("too large: {} (an image file over 2 GiB)", files[i].string()));
    const std::string bytes = read_file(files[i]);
    int w = 0, h = 0, c = 0;
    if (stbi_info_from_memory(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), &w,
                              &h, &c)) {
      if (static_cast<int64_t>(w) * h > o.max_pixels)
        throw InputError(fmt::format("too large: {} ({}x{} frame, more than the limit of {} pixels)", files[i].string(),
                                     w, h, o.max_pixels));
      if (static_cast<int64_t>(i + 1) * w * h * 3 > o.max_bytes)
        throw InputError(fmt::format("too long: {} ({} frames of {}x{} would exceed the limit of {} bytes)",
                                     dir.string(), i + 1, w, h, o.max_bytes));
    }
    unsigned char* px = stbi_load_from_memory(reinterpret_cast<const unsigned char*>(bytes.data()),
                                              static_cast<int>(bytes.size()), &w, &h, &c, 3);
    if (!px) throw InputError(fmt::format("not an image: {} ({})", files[i].string(), stbi_failure_reason()));
    auto t = torch::from_blob(px, {h, w, 3}, torch::kUInt8).permute({2, 0, 1}).clone();
    stbi_image_free(px);
    if (h0 < 0) {
      h0 = h;
      w0 = w;
    } else if (h != h0 || w != w0) {
      throw InputError(fmt::format("frame size changes: {} ({}x{} after {}x{})", files[i].string(), w, h, w0, h0));
    }
    frames.push_back(t);
  }
  auto v = torch::stack(frames);  // [T, 3, H, W]
  if (o.height > 0 && o.width > 0 && (o.height != h0 || o.width != w0)) {
    const double s = std::max(static_cast<double>(o.height) / h0, static_cast<double>(o.width) / w0);
    const int64_t rh = std::max<int64_t>(o.height, std::lround(h0 * s)), rw = std::max<int64_t>(o.width, std::lround(w0 * s));
    auto f = F::interpolate(v.to(torch::kFloat32), F::InterpolateFuncOptions()
                                                     .size(std::vector<int64_t>{rh, rw})
                                                     .mode(torch::kBilinear)
                                                     .align_corners(false)
                                                     .antialias(true));
    const int64_t top = (rh - o.height) / 2, left = (rw - o.width) / 2;
    v = f.slice(2, top, top + o.height).slice(3, left, left + o.width).round().clamp(0, 255).to(torch::kUInt8);
  }
  return v.contiguous();
}

VideoFolderDataset::VideoFolderDataset(FolderKind kind, const fs::path& root, const fs::path& csv) : kind_(kind) {
  if (!fs::is_directory(root)) throw InputError(fmt::format("{}: not a folder", root.string()));
  if (kind == FolderKind::OpenVid) {
    std::vector<std::vector<std::string>> rows;
    try {
      rows = parse_csv(read_file(csv));
    } catch (const InputError& e) {
      throw InputError(fmt::format("OpenVid CSV: {}", e.what()));
    }
    if (rows.empty()) throw InputError(fmt::format("{}: empty CSV", csv.string()));
    const auto& header = rows.front();
    auto col = [&](const std::string& name) -> std::ptrdiff_t {
      auto it = std::find(header.begin(), header.end(), name);
      return it == header.end() ? -1 : it - header.begin();
    };
    const auto vi = col("video"), ci = col("caption");
    if (vi < 0 || ci < 0)
      throw InputError(fmt::format("{}: the OpenVid CSV needs columns 'video' and 'caption'; found: {}", csv.string(),
                                   join(header, ", ")));
    for (std::size_t r = 1; r < rows.size(); ++r) {
      const auto& row = rows[r];
      if (static_cast<std::ptrdiff_t>(row.size()) <= std::max(vi, ci)) {
        report_.skip(fmt::format("{}:{}", csv.string(), r + 1), fmt::format("bad row: {} line {} has {} fields", csv.string(), r + 1, row.size()));
        continue;
      }
      const fs::path p = root / row[static_cast<std::size_t>(vi)];
      if (!fs::exists(p)) {
        report_.skip(p.string(), fmt::format("missing: {} (listed in the CSV)", p.string()));
        continue;
      }
      entries_.push_back({p, row[static_cast<std::size_t>(ci)], false});
    }
    return;
  }
  std::vector<fs::path> items;
  for (const auto& e : fs::directory_iterator(root)) items.push_back(e.path());
  std::sort(items.begin(), items.end());
  for (const auto& p : items) {
    if (p.filename().string().find(kAtomicTempMarker) != std::string::npos) continue;  // our own half-written files
    // Names go into JSON reports and provenance, which must be UTF-8: others are skipped, named escaped.
    if (!is_valid_utf8(p.string())) {
      report_.skip(escape_non_utf8(p.string()),
                   fmt::format("file name not UTF-8: {} (rename it to use it)", escape_non_utf8(p.string())));
      continue;
    }
    if (kind == FolderKind::Frames) {
      if (fs::is_directory(p)) entries_.push_back({p, "", true});
      else report_.skip(p.string(), fmt::format("not a frame folder: {}", p.string()));
    } else if (fs::is_regular_file(p)) {
      // A clip's label sidecar (x.json beside x.mp4, as write_synthetic_set makes) is not an entry.
      if (p.extension() == ".json") {
        bool sidecar = false;
        for (const char* ext : {".mp4", ".mkv", ".webm", ".mov", ".avi"})
          sidecar = sidecar || fs::exists(fs::path(p).replace_extension(ext));
        if (sidecar) continue;
      }
      entries_.push_back({p, "", false});  // decoding decides; non-videos are reported then
    } else {
      report_.skip(p.string(), fmt::format("not a video file: {} is a folder (a folder of frame folders is read as "
                                           "one only when it holds no video files)",
                                           p.string()));
    }
  }
}

FolderKind folder_kind_of(const fs::path& root) {
  bool dirs = false, files = false;
  if (!fs::is_directory(root)) return FolderKind::Videos;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory()) dirs = true;
    else if (e.path().extension() != ".json") files = true;
  }
  return dirs && !files ? FolderKind::Frames : FolderKind::Videos;
}

std::optional<torch::Tensor> VideoFolderDataset::load(std::size_t i, const DecodeOptions& o) {
  const auto& e = entries_.at(i);
  try {
    auto v = e.frames_folder ? read_frame_folder(e.path, o) : decode_video(e.path, o).frames;
    ++report_.loaded;
    return v;
  } catch (const InputError& err) {
    report_.skip(e.path.string(), err.what());
  }
  return std::nullopt;
}

std::pair<std::vector<std::size_t>, std::vector<std::size_t>> VideoFolderDataset::split(int64_t num_test,
                                                                                        uint64_t seed) const {
  std::vector<std::size_t> idx(entries_.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(idx.begin(), idx.end(), rng);
  const auto n = std::min<std::size_t>(static_cast<std::size_t>(std::max<int64_t>(num_test, 0)), idx.size());
  std::vector<std::size_t> test(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n)),
      train(idx.begin() + static_cast<std::ptrdiff_t>(n), idx.end());
  std::sort(test.begin(), test.end());
  std::sort(train.begin(), train.end());
  return {train, test};
}

}  // namespace osv
