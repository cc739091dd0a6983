// Reading and writing videos with FFmpeg's libraries (libavformat/libavcodec/libswscale).
//
// Reading: seek to a start time, resample to a target fps (the frame nearest each target
// time), take T frames, turn them upright as the stream's display matrix says (phone videos are
// stored sideways with a rotation tag; multiples of 90 degrees, as players show them), resize so
// the frame covers H x W and centre-crop. Only the chosen
// frames are converted, so long or large videos stream through in bounded memory.
// Every failure is an osv::InputError whose message starts with a short reason
// ("not a video", "no video stream", "decode error", "too short", "too large", "too long",
// "empty") and names the file.
//
// Writing: mp4 (H.264 when the encoder exists, else MPEG-4), animated GIF, animated WebP (by
// extension), and PNG frame grids. Frames are uint8 [T, 3, H, W] RGB.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>

namespace osv {

// Bounds on what one video may make us allocate (hostile or broken files): a frame larger than
// max_pixels is refused before any frame is converted ("too large"), and decoding stops with an
// error before the picked frames exceed max_bytes ("too long"; e.g. every frame of an hour-long
// video asked for with frames = 0).
inline constexpr int64_t kMaxVideoPixels = 8192LL * 8192;        // 8K x 8K
inline constexpr int64_t kMaxDecodedBytes = 8LL * 1024 * 1024 * 1024;  // 8 GiB of uint8 RGB

struct DecodeOptions {
  double fps = 0;       // 0: keep every source frame
  bool apply_rotation = true;  // turn frames as the display matrix says (false: as stored)
  int64_t frames = 0;   // 0: as many as the video has
  double start_s = 0;   // seconds from the start
  int64_t height = 0;   // 0 with width 0: native size
  int64_t width = 0;
  int64_t max_pixels = kMaxVideoPixels;  // per source frame
  int64_t max_bytes = kMaxDecodedBytes;  // of the decoded frames together
};

struct DecodedVideo {
  torch::Tensor frames;  // uint8 [T, 3, H, W]
  double source_fps = 0;
  double duration_s = 0;
  int64_t source_width = 0, source_height = 0;  // as stored
  // Clockwise turn (0, 90, 180 or 270) the display matrix asks for: applied to `frames` unless
  // DecodeOptions::apply_rotation is false. Other angles are rounded to the nearest quarter turn.
  int rotation_degrees = 0;
};

DecodedVideo decode_video(const std::filesystem::path& path, const DecodeOptions& options = {});

// Writes by extension: .mp4 | .gif | .webp. Returns the encoder used ("libx264", "mpeg4", ...).
std::string write_video(const std::filesystem::path& path, const torch::Tensor& frames, double fps);

// One PNG: rows = videos, columns = up to `max_columns` frames evenly spaced in time.
// videos: uint8 [N, T, 3, H, W]
void write_frame_grid(const std::filesystem::path& path, const torch::Tensor& videos, int64_t max_columns = 8);
void write_png(const std::filesystem::path& path, const torch::Tensor& image);  // uint8 [3, H, W]

// Which frames of a source at `source_fps` the resampler picks: nearest to start + k / fps.
std::vector<int64_t> resample_indices(int64_t source_frames, double source_fps, double fps, double start_s,
                                      int64_t frames);

}  // namespace osv
