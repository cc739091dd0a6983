// What this build can decode and encode: FFmpeg library versions and which encoders exist
// (H.264 for mp4 when available, else MPEG-4; GIF; WebP). Reported by `osvbench info` and
// used by the video writer to pick a codec.
#pragma once

#include <string>

namespace osv {

struct VideoBackendInfo {
  bool available = false;    // built with FFmpeg
  std::string libavformat;   // "59.27.100"
  std::string libavcodec;
  std::string libswscale;
  std::string h264_encoder;  // encoder name ("libx264") or empty
  std::string mpeg4_encoder;
  std::string gif_encoder;
  std::string webp_encoder;
  std::string h264_decoder;
};

VideoBackendInfo video_backend_info();

}  // namespace osv
