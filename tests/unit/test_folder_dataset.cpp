// Folder datasets: a folder mixing good videos and broken files loads the good ones and reports
// every broken one with its reason; OpenVid CSV columns and rows; frame folders; the split.
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <set>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "common/config.h"
#include "datasets/clip_set.h"
#include "datasets/folder_dataset.h"
#include "datasets/synthetic.h"
#include "datasets/video_backend.h"

namespace osv {
namespace {
namespace fs = std::filesystem;

class FolderDataset : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!video_backend_info().available) GTEST_SKIP() << "built without FFmpeg";
    dir_ = fs::temp_directory_path() / ("osvbench_test_folder_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    SyntheticOptions o;
    o.frames = 8;
    o.height = 32;
    o.width = 48;
    for (int i = 0; i < 3; ++i) write_video(dir_ / fmt::format("good{}.mp4", i), synthetic_clip(o, i).video, 7.0);
    o.frames = 3;
    write_video(dir_ / "short.mp4", synthetic_clip(o, 9).video, 7.0);
    const std::string bytes = read_file(dir_ / "good0.mp4");
    atomic_write(dir_ / "truncated.mp4", bytes.substr(0, bytes.size() / 4));
    atomic_write(dir_ / "zero.mp4", "");
    atomic_write(dir_ / "readme.txt", "not a video\n");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_F(FolderDataset, MixedFolderLoadsTheGoodAndReportsTheBroken) {
  VideoFolderDataset ds(FolderKind::Videos, dir_);
  EXPECT_EQ(ds.entries().size(), 7u);
  DecodeOptions o;
  o.frames = 6;
  o.fps = 7;
  o.height = 32;
  o.width = 32;
  int good = 0;
  for (std::size_t i = 0; i < ds.entries().size(); ++i)
    if (auto v = ds.load(i, o)) {
      EXPECT_EQ(v->sizes(), (std::vector<int64_t>{6, 3, 32, 32}));
      ++good;
    }
  EXPECT_EQ(good, 3);
  const auto& r = ds.report();
  std::printf("[data] %s\n", r.summary().c_str());
  EXPECT_EQ(r.loaded, 3);
  EXPECT_EQ(r.skipped_count(), 4);
  EXPECT_EQ(r.skipped_by_reason.at("too short"), 1);
  EXPECT_EQ(r.skipped_by_reason.at("empty"), 1);
  EXPECT_GE(r.skipped_by_reason.at("not a video"), 1);  // readme.txt (and the truncated mp4 unless it decodes partly)
  for (const auto& [file, message] : r.skipped) EXPECT_NE(message.find(fs::path(file).filename().string()), std::string::npos);
  EXPECT_EQ(r.to_json()["skipped_files"].size(), 4u);
}

// A split loaded whole or streamed in batches gives the same clips, and each clip's file is its own
// (broken files are skipped from the file list too, so names stay aligned with the clips).
TEST_F(FolderDataset, StreamedAndWholeLoadsAgreeAndNameEachClip) {
  const Config c = Config::resolve("tiny", {"data.frames=6", "data.fps=7", "data.height=32", "data.width=32"});
  const auto set = load_clip_folder(dir_, c);
  ASSERT_EQ(set.videos.size(0), 3);
  ASSERT_EQ(set.files.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(set.files[static_cast<std::size_t>(i)].filename(), fmt::format("good{}.mp4", i));
  std::vector<torch::Tensor> batches;
  std::vector<fs::path> files;
  const auto report = for_each_clip_batch(dir_, c, 0, 2, [&](const torch::Tensor& b) { batches.push_back(b); }, 2, &files);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].size(0), 2);
  EXPECT_TRUE(torch::equal(torch::cat(batches), set.videos));
  EXPECT_EQ(files, set.files);
  EXPECT_EQ(report.loaded, 3);
}

// data.source=openvid: the CSV's rows with a file split by the seed into num_test test clips and the
// train clips (num_train caps them); the two are disjoint and cover every present row.
TEST_F(FolderDataset, OpenVidSplitIsSeededDisjointAndCapped) {
  std::string csv = "video,caption,aesthetic score,motion score,frame,fps,seconds\n";
  for (int i = 0; i < 3; ++i) csv += fmt::format("good{}.mp4,\"a, b\",5,3,8,7,1.1\n", i);
  for (int i = 0; i < 3; ++i) {
    fs::copy_file(dir_ / "good0.mp4", dir_ / fmt::format("copy{}.mp4", i));
    csv += fmt::format("copy{}.mp4,c,5,3,8,7,1.1\n", i);
  }
  csv += "gone.mp4,d,5,3,8,7,1.1\n";
  atomic_write(dir_ / "list.csv", csv);
  const std::vector<std::string> base = {"data.source=openvid", "data.csv=" + (dir_ / "list.csv").string(),
                                         "data.root=" + dir_.string(), "data.frames=6", "data.fps=7",
                                         "data.height=32", "data.width=32", "data.num_test=2"};
  const auto files = [&](const std::string& split, std::vector<std::string> extra) {
    auto o = base;
    o.insert(o.end(), extra.begin(), extra.end());
    const Config c = Config::resolve("tiny", o);
    const auto set = load_clips(clip_split(c, split), c);
    EXPECT_EQ(set.report.skipped_by_reason.at("missing"), 1);  // gone.mp4, counted
    std::vector<std::string> names;
    for (const auto& f : set.files) names.push_back(f.filename().string());
    return names;
  };
  const auto test = files("test", {}), train = files("train", {});
  EXPECT_EQ(test.size(), 2u);
  EXPECT_EQ(train.size(), 4u);
  std::set<std::string> all(test.begin(), test.end());
  all.insert(train.begin(), train.end());
  EXPECT_EQ(all.size(), 6u);
  EXPECT_EQ(files("test", {}), test);                              // the same seed, the same split
  bool other = false;  // other seeds draw other splits (any one may coincide: 15 possible)
  for (int seed = 1; seed <= 4; ++seed) other = other || files("test", {fmt::format("data.split_seed={}", seed)}) != test;
  EXPECT_TRUE(other);
  EXPECT_EQ(files("train", {"data.num_train=3"}).size(), 3u);
  EXPECT_THROW(clip_split(Config::resolve("tiny", {"data.source=openvid"}), "test"), InputError);  // no CSV named
}

// A file name that is not UTF-8 cannot go into JSON reports: it is skipped with its reason, and
// the report (with the name escaped) still serialises.
TEST_F(FolderDataset, NonUtf8NamesAreSkippedWithAReason) {
  const fs::path odd = dir_ / std::string("clip\xff\xfe.mp4");
  fs::copy_file(dir_ / "good0.mp4", odd);
  VideoFolderDataset ds(FolderKind::Videos, dir_);
  EXPECT_EQ(ds.entries().size(), 7u);
  for (const auto& e : ds.entries()) EXPECT_NE(e.path, odd);
  const auto& r = ds.report();
  EXPECT_EQ(r.skipped_by_reason.at("file name not UTF-8"), 1);
  std::string dumped;
  EXPECT_NO_THROW(dumped = r.to_json().dump());
  EXPECT_NE(dumped.find("clip\\\\xff\\\\xfe.mp4"), std::string::npos) << dumped;
}

TEST_F(FolderDataset, OpenVidCsvNeedsItsColumnsAndReportsMissingFiles) {
  atomic_write(dir_ / "openvid.csv",
               "video,caption,aesthetic score\n"
               "good0.mp4,\"a red, round thing\",5.1\n"
               "good1.mp4,\"two \"\"quoted\"\" words\",4.0\n"
               "gone.mp4,missing file,3.0\n");
  VideoFolderDataset ds(FolderKind::OpenVid, dir_, dir_ / "openvid.csv");
  ASSERT_EQ(ds.entries().size(), 2u);
  EXPECT_EQ(ds.entries()[0].caption, "a red, round thing");
  EXPECT_EQ(ds.entries()[1].caption, "two \"quoted\" words");
  EXPECT_EQ(ds.report().skipped_by_reason.at("missing"), 1);
  atomic_write(dir_ / "bad.csv", "path,text\nx.mp4,y\n");
  try {
    VideoFolderDataset bad(FolderKind::OpenVid, dir_, dir_ / "bad.csv");
    FAIL() << "no exception";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("needs columns 'video' and 'caption'; found: path, text"), std::string::npos)
        << e.what();
  }
}

TEST_F(FolderDataset, FrameFoldersAndSplit) {
  SyntheticOptions o;
  o.frames = 5;
  o.height = 40;
  o.width = 40;
  auto clip = synthetic_clip(o, 1).video;
  fs::create_directories(dir_ / "frames" / "clip_a");
  for (int t = 0; t < 5; ++t) write_png(dir_ / "frames" / "clip_a" / fmt::format("{:04d}.png", t), clip[t]);
  atomic_write(dir_ / "frames" / "stray.txt", "x");
  VideoFolderDataset ds(FolderKind::Frames, dir_ / "frames");
  ASSERT_EQ(ds.entries().size(), 1u);
  DecodeOptions d;
  d.frames = 5;
  auto v = ds.load(0, d);
  ASSERT_TRUE(v);
  EXPECT_TRUE(torch::equal(*v, clip));  // PNG is lossless
  EXPECT_EQ(ds.report().skipped_by_reason.at("not a frame folder"), 1);
  // A frame folder is bounded like a video: pixels per frame and bytes decoded at once, checked
  // from each image's header before it is decoded.
  auto error_of = [&](const DecodeOptions& lim) {
    try {
      read_frame_folder(dir_ / "frames" / "clip_a", lim);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  DecodeOptions few_pixels = d;
  few_pixels.max_pixels = 40 * 40 - 1;
  EXPECT_EQ(error_of(few_pixels).rfind("too large: ", 0), 0u) << error_of(few_pixels);
  DecodeOptions few_bytes = d;
  few_bytes.max_bytes = 3 * 40 * 40 * 3;  // three frames fit, the fourth does not
  EXPECT_NE(error_of(few_bytes).find("too long: "), std::string::npos) << error_of(few_bytes);
  EXPECT_NE(error_of(few_bytes).find("4 frames of 40x40"), std::string::npos) << error_of(few_bytes);

  // A folder of frame folders is recognised as one (a stray .json beside them is a sidecar); a
  // folder holding videos is read as videos, its sub-folders skipped and counted.
  EXPECT_EQ(folder_kind_of(dir_ / "frames"), FolderKind::Videos);  // stray.txt is a file
  fs::remove(dir_ / "frames" / "stray.txt");
  atomic_write(dir_ / "frames" / "labels.json", "{}");
  EXPECT_EQ(folder_kind_of(dir_ / "frames"), FolderKind::Frames);
  EXPECT_EQ(folder_kind_of(dir_), FolderKind::Videos);
  VideoFolderDataset videos(FolderKind::Videos, dir_);
  EXPECT_EQ(videos.report().skipped_by_reason.at("not a video file"), 1) << videos.report().summary();  // frames/
  auto [train1, test1] = videos.split(3, 42);
  auto [train2, test2] = videos.split(3, 42);
  EXPECT_EQ(test1, test2);
  EXPECT_EQ(test1.size(), 3u);
  EXPECT_EQ(train1.size() + test1.size(), videos.entries().size());
  EXPECT_NE(videos.split(3, 43).second, test1);
}

}  // namespace
}  // namespace osv
