#include "datasets/video_backend.h"

#include <fmt/format.h>

#include "osv_build_config.h"

#if OSV_WITH_FFMPEG
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}
#endif

namespace osv {

#if OSV_WITH_FFMPEG
namespace {
std::string version_text(unsigned v) { return fmt::format("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff); }
std::string encoder_name(AVCodecID id) {
  const AVCodec* c = avcodec_find_encoder(id);
  return c ? c->name : "";
}
}  // namespace
#endif

VideoBackendInfo video_backend_info() {
  VideoBackendInfo info;
#if OSV_WITH_FFMPEG
  info.available = true;
  info.libavformat = version_text(avformat_version());
  info.libavcodec = version_text(avcodec_version());
  info.libswscale = version_text(swscale_version());
  info.h264_encoder = encoder_name(AV_CODEC_ID_H264);
  info.mpeg4_encoder = encoder_name(AV_CODEC_ID_MPEG4);
  info.gif_encoder = encoder_name(AV_CODEC_ID_GIF);
  info.webp_encoder = encoder_name(AV_CODEC_ID_WEBP);
  const AVCodec* d = avcodec_find_decoder(AV_CODEC_ID_H264);
  info.h264_decoder = d ? d->name : "";
#endif
  return info;
}

}  // namespace osv
