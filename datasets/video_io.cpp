#include "datasets/video_io.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "common/log.h"
#include "osv_build_config.h"

#if OSV_WITH_FFMPEG
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}
#endif

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

namespace osv {

// Demuxers decode_video accepts (FFmpeg's names): the containers videos come in, not playlists.
[[maybe_unused]] constexpr const char* kVideoFormatWhitelist =
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,gif,webp_pipe,flv,mpegts,mpeg,ogg,h264,hevc,mjpeg,image2";
namespace fs = std::filesystem;

std::vector<int64_t> resample_indices(int64_t source_frames, double source_fps, double fps, double start_s,
                                      int64_t frames) {
  std::vector<int64_t> idx;
  if (fps <= 0) fps = source_fps;
  for (int64_t k = 0; frames <= 0 || k < frames; ++k) {
    const double t = start_s + static_cast<double>(k) / fps;
    const auto i = static_cast<int64_t>(std::llround(t * source_fps));
    if (i >= source_frames) break;
    idx.push_back(i);
  }
  return idx;
}

void write_png(const fs::path& path, const torch::Tensor& image) {
  auto hwc = image.to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1));
  std::string bytes;
  stbi_write_png_to_func(
      [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); },
      &bytes, w, h, 3, hwc.data_ptr(), w * 3);
  if (bytes.empty()) throw std::runtime_error(fmt::format("cannot encode PNG '{}'", path.string()));
  atomic_write(path, bytes);
}

void write_frame_grid(const fs::path& path, const torch::Tensor& videos, int64_t max_columns) {
  const auto N = videos.size(0), T = videos.size(1), H = videos.size(3), W = videos.size(4);
  const int64_t cols = std::min(T, max_columns);
  const int64_t pad = 2;
  auto grid = torch::full({3, N * (H + pad) + pad, cols * (W + pad) + pad}, 255, torch::kUInt8);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t t = cols == 1 ? 0 : c * (T - 1) / (cols - 1);
      grid.slice(1, pad + n * (H + pad), pad + n * (H + pad) + H).slice(2, pad + c * (W + pad), pad + c * (W + pad) + W) =
          videos[n][t];
    }
  write_png(path, grid);
}

#if OSV_WITH_FFMPEG
namespace {

std::string av_error(int e) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(e, buf, sizeof buf);
  return buf;
}

struct FormatInput {
  AVFormatContext* p = nullptr;
  ~FormatInput() {
    if (p) avformat_close_input(&p);
  }
};
struct CodecCtx {
  AVCodecContext* p = nullptr;
  ~CodecCtx() {
    if (p) avcodec_free_context(&p);
  }
};
struct Frame {
  AVFrame* p = av_frame_alloc();
  ~Frame() { av_frame_free(&p); }
};
struct Packet {
  AVPacket* p = av_packet_alloc();
  ~Packet() { av_packet_free(&p); }
};
struct Sws {
  SwsContext* p = nullptr;
  ~Sws() { sws_freeContext(p); }
};

}  // namespace

namespace {

// The clockwise quarter turn a stream's display matrix asks for (what players apply), 0 without one.
int display_rotation(const AVStream* st) {
  const uint8_t* m = nullptr;
#if LIBAVFORMAT_VERSION_MAJOR >= 61
  if (const AVPacketSideData* sd = av_packet_side_data_get(st->codecpar->coded_side_data,
                                                           st->codecpar->nb_coded_side_data, AV_PKT_DATA_DISPLAYMATRIX))
    if (sd->size >= 9 * sizeof(int32_t)) m = sd->data;
#else
  size_t size = 0;
  m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (size < 9 * sizeof(int32_t)) m = nullptr;
#endif
  if (!m) return 0;
  const double ccw = av_display_rotation_get(reinterpret_cast<const int32_t*>(m));  // degrees counter-clockwise
  if (!std::isfinite(ccw)) return 0;
  const long quarter = std::lround(-ccw / 90.0);
  return static_cast<int>(((quarter % 4) + 4) % 4) * 90;
}

}  // namespace

DecodedVideo decode_video(const fs::path& path, const DecodeOptions& o) {
  const std::string file = path.string();
  auto fail = [&](const std::string& reason, const std::string& detail) {
    return InputError(fmt::format("{}: {} ({})", reason, file, detail));
  };
  if (!fs::exists(path)) throw fail("missing", "no such file");
  if (fs::file_size(path) == 0) throw fail("empty", "zero-length file");
  av_log_set_level(AV_LOG_ERROR);
  FormatInput in;
  // Local files of video containers only: a playlist (HLS, concat) named x.mp4 must not make
  // FFmpeg open other files or URLs.
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "protocol_whitelist", "file", 0);
  av_dict_set(&opts, "format_whitelist", kVideoFormatWhitelist, 0);
  const int open_rc = avformat_open_input(&in.p, file.c_str(), nullptr, &opts);
  av_dict_free(&opts);
  if (open_rc < 0) throw fail("not a video", av_error(open_rc));
  if (int e = avformat_find_stream_info(in.p, nullptr); e < 0) throw fail("not a video", av_error(e));
  const AVCodec* dec = nullptr;
  const int si = av_find_best_stream(in.p, AVMEDIA_TYPE_VIDEO, -1, -1, &dec, 0);
  if (si < 0 || !dec) throw fail("no video stream", "no decodable video stream");
  AVStream* st = in.p->streams[si];
  CodecCtx ctx;
  ctx.p = avcodec_alloc_context3(dec);
  avcodec_parameters_to_context(ctx.p, st->codecpar);
  ctx.p->thread_count = 1;
  if (int e = avcodec_open2(ctx.p, dec, nullptr); e < 0) throw fail("decode error", av_error(e));

  DecodedVideo out;
  out.source_width = ctx.p->width;
  out.source_height = ctx.p->height;
  if (static_cast<int64_t>(ctx.p->width) * ctx.p->height > o.max_pixels)
    throw fail("too large", fmt::format("{}x{} frames, more than the limit of {} pixels", ctx.p->width,
                                        ctx.p->height, o.max_pixels));
  AVRational rate = av_guess_frame_rate(in.p, st, nullptr);
  out.source_fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 25.0;
  out.duration_s = in.p->duration > 0 ? static_cast<double>(in.p->duration) / AV_TIME_BASE
                   : st->duration > 0 ? static_cast<double>(st->duration) * av_q2d(st->time_base)
                                      : 0.0;
  const double fps = o.fps > 0 ? o.fps : out.source_fps;
  if (o.frames > 0 && out.duration_s > 0) {
    const double need = o.start_s + static_cast<double>(o.frames - 1) / fps;
    if (need > out.duration_s + 0.5 / out.source_fps)
      throw fail("too short", fmt::format("{:.2f} s long, {} frames at {} fps from {:.2f} s need {:.2f} s",
                                          out.duration_s, o.frames, fps, o.start_s, need));
  }
  if (o.start_s > 0) {
    const auto ts = static_cast<int64_t>(o.start_s / av_q2d(st->time_base));
    av_seek_frame(in.p, si, ts, AVSEEK_FLAG_BACKWARD);
    avcodec_flush_buffers(ctx.p);
  }
  out.rotation_degrees = display_rotation(st);
  const int turn = o.apply_rotation ? out.rotation_degrees : 0;
  const bool sideways = turn == 90 || turn == 270;
  // Output geometry: cover H x W, centre crop — of the frame as displayed (turned upright).
  const int64_t sw = sideways ? ctx.p->height : ctx.p->width, sh = sideways ? ctx.p->width : ctx.p->height;
  if (sw <= 0 || sh <= 0) throw fail("decode error", "frame size unknown");
  int64_t oh = o.height > 0 ? o.height : sh, ow = o.width > 0 ? o.width : sw;
  const double scale = std::max(static_cast<double>(oh) / sh, static_cast<double>(ow) / sw);
  const int64_t rh = std::max<int64_t>(oh, std::lround(sh * scale)), rw = std::max<int64_t>(ow, std::lround(sw * scale));

  Sws sws;
  std::vector<torch::Tensor> picked;
  Frame frame, prev;
  double prev_t = -1e300;
  bool have_prev = false;
  int64_t k = 0;
  const double t0 = o.start_s;
  auto convert = [&](AVFrame* f) {
    if (static_cast<int64_t>(f->width) * f->height > o.max_pixels)  // a stream may change size mid-way
      throw fail("too large", fmt::format("a {}x{} frame, more than the limit of {} pixels", f->width, f->height,
                                          o.max_pixels));
    if ((static_cast<int64_t>(picked.size()) + 1) * oh * ow * 3 > o.max_bytes)
      throw fail("too long", fmt::format("{} frames of {}x{} would exceed the limit of {} bytes decoded at once",
                                         picked.size() + 1, ow, oh, o.max_bytes));
    // Scaled as stored (a sideways frame to rh wide, rw high), then turned upright to rh x rw.
    const int64_t qw = sideways ? rh : rw, qh = sideways ? rw : rh;
    sws.p = sws_getCachedContext(sws.p, f->width, f->height, static_cast<AVPixelFormat>(f->format), static_cast<int>(qw),
                                 static_cast<int>(qh), AV_PIX_FMT_RGB24, SWS_BICUBIC, nullptr, nullptr, nullptr);
    if (!sws.p) throw fail("decode error", "no pixel-format conversion");
    // swscale's SIMD paths write whole vectors: rows padded to 64 bytes plus a spare row (a tight
    // [rh, rw, 3] buffer was overrun for widths like 36 — heap corruption).
    const int64_t row = (qw * 3 + 63) / 64 * 64;
    auto buf = torch::empty({qh + 1, row}, torch::kUInt8);
    uint8_t* dst[1] = {buf.data_ptr<uint8_t>()};
    int stride[1] = {static_cast<int>(row)};
    sws_scale(sws.p, f->data, f->linesize, 0, f->height, dst, stride);
    auto rgb = buf.slice(0, 0, qh).slice(1, 0, qw * 3).reshape({qh, qw, 3});
    if (turn != 0) rgb = torch::rot90(rgb, -turn / 90, {0, 1});  // k < 0: clockwise
    const int64_t top = (rh - oh) / 2, left = (rw - ow) / 2;
    return rgb.slice(0, top, top + oh).slice(1, left, left + ow).permute({2, 0, 1}).contiguous();
  };
  auto target = [&](int64_t i) { return t0 + static_cast<double>(i) / fps; };
  auto done = [&] { return o.frames > 0 && k >= o.frames; };
  // Pick, for each target time, the nearer of the frames around it.
  auto offer = [&](AVFrame* f, double t) {
    while (!done() && t >= target(k)) {
      if (have_prev && std::abs(prev_t - target(k)) <= std::abs(t - target(k)) && prev_t >= t0 - 0.5 / out.source_fps)
        picked.push_back(convert(prev.p));
      else
        picked.push_back(convert(f));
      ++k;
    }
    av_frame_unref(prev.p);
    av_frame_ref(prev.p, f);
    prev_t = t;
    have_prev = true;
  };
  Packet pkt;
  int64_t decoded = 0;
  int64_t first_pts = AV_NOPTS_VALUE;
  auto drain = [&]() {
    while (true) {
      int e = avcodec_receive_frame(ctx.p, frame.p);
      if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) return;
      if (e < 0) throw fail("decode error", av_error(e));
      // Time from the first decoded frame (encoder delays and edit lists shift raw pts).
      const int64_t pts = frame.p->best_effort_timestamp;
      if (pts != AV_NOPTS_VALUE && first_pts == AV_NOPTS_VALUE) first_pts = o.start_s > 0 ? 0 : pts;
      const double t = pts == AV_NOPTS_VALUE ? static_cast<double>(decoded) / out.source_fps
                                             : static_cast<double>(pts - first_pts) * av_q2d(st->time_base);
      ++decoded;
      log::trace("decode {}: frame {} pts {} t {:.4f}", file, decoded, pts, t);
      offer(frame.p, t);
      av_frame_unref(frame.p);
    }
  };
  while (!done()) {
    int e = av_read_frame(in.p, pkt.p);
    if (e == AVERROR_EOF) break;
    if (e < 0) throw fail("decode error", av_error(e));
    if (pkt.p->stream_index == si) {
      while (true) {
        const int s = avcodec_send_packet(ctx.p, pkt.p);
        if (s == AVERROR(EAGAIN)) {  // output pending: take it, then resend the packet
          drain();
          continue;
        }
        if (s < 0) {
          av_packet_unref(pkt.p);
          throw fail("decode error", av_error(s));
        }
        break;
      }
      drain();
    }
    av_packet_unref(pkt.p);
  }
  if (!done()) {
    avcodec_send_packet(ctx.p, nullptr);
    drain();
    // The last frame stands for target times up to half a frame past it.
    while (have_prev && !done() && std::abs(prev_t - target(k)) <= 0.5 / out.source_fps + 1e-9) {
      picked.push_back(convert(prev.p));
      ++k;
    }
  }
  if (decoded == 0) throw fail("decode error", "no frame could be decoded");
  if (o.frames > 0 && k < o.frames)
    throw fail("too short", fmt::format("{} of {} frames at {} fps from {:.2f} s", k, o.frames, fps, o.start_s));
  if (picked.empty()) throw fail("too short", "no frame at the requested times");
  out.frames = torch::stack(picked, 0);
  return out;
}

namespace {

struct FormatOutput {
  AVFormatContext* p = nullptr;
  ~FormatOutput() {
    if (p) {
      if (p->pb && !(p->oformat->flags & AVFMT_NOFILE)) avio_closep(&p->pb);
      avformat_free_context(p);
    }
  }
};

}  // namespace

std::string write_video(const fs::path& path, const torch::Tensor& frames_in, double fps) {
  if (frames_in.dim() != 4 || frames_in.size(1) != 3)
    throw std::invalid_argument(fmt::format("write_video: frames must be [T, 3, H, W], got {}", c10::str(frames_in.sizes())));
  std::string ext = path.extension().string();
  auto frames = frames_in.to(torch::kUInt8);
  AVCodecID ids[2] = {AV_CODEC_ID_NONE, AV_CODEC_ID_NONE};
  AVPixelFormat pix = AV_PIX_FMT_YUV420P;
  const char* muxer = nullptr;
  if (ext == ".mp4") {
    ids[0] = AV_CODEC_ID_H264;
    ids[1] = AV_CODEC_ID_MPEG4;
    muxer = "mp4";
    // 4:2:0 needs even sizes.
    frames = frames.slice(2, 0, frames.size(2) / 2 * 2).slice(3, 0, frames.size(3) / 2 * 2);
  } else if (ext == ".gif") {
    ids[0] = AV_CODEC_ID_GIF;
    pix = AV_PIX_FMT_RGB8;
    muxer = "gif";
  } else if (ext == ".webp") {
    ids[0] = AV_CODEC_ID_WEBP;
    muxer = "webp";
  } else {
    throw UsageError(fmt::format("write_video: '{}': use .mp4, .gif or .webp", path.string()));
  }
  av_log_set_level(AV_LOG_ERROR);  // encoders' statistics are not ours to print
  const AVCodec* enc = nullptr;
  for (auto id : ids)
    if (id != AV_CODEC_ID_NONE && (enc = avcodec_find_encoder(id))) break;
  if (!enc) throw NotImplementedError(fmt::format("no encoder for '{}' in this FFmpeg", ext));
  const int T = static_cast<int>(frames.size(0)), H = static_cast<int>(frames.size(2)), W = static_cast<int>(frames.size(3));

  // A unique temporary name per process and call: concurrent writers never share one.
  static std::atomic<unsigned> counter{0};
  const fs::path tmp = path.parent_path() / fmt::format("{}{}{}.{}.video", path.filename().string(), kAtomicTempMarker,
                                                        ::getpid(), counter++);
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  struct RemoveUnlessDone {
    fs::path p;
    bool done = false;
    ~RemoveUnlessDone() {
      std::error_code ec;
      if (!done) fs::remove(p, ec);
    }
  } guard{tmp};
  FormatOutput out;
  if (int e = avformat_alloc_output_context2(&out.p, nullptr, muxer, tmp.c_str()); e < 0)
    throw std::runtime_error(fmt::format("write_video '{}': {}", path.string(), av_error(e)));
  CodecCtx ctx;
  ctx.p = avcodec_alloc_context3(enc);
  ctx.p->width = W;
  ctx.p->height = H;
  const AVRational rate = av_d2q(fps, 1000);
  ctx.p->time_base = av_inv_q(rate);
  ctx.p->framerate = rate;
  ctx.p->pix_fmt = pix;
  ctx.p->gop_size = 12;
  ctx.p->thread_count = 1;  // threaded encoders may pick different bits run to run; the written files must not
  if (enc->id == AV_CODEC_ID_MPEG4) ctx.p->bit_rate = static_cast<int64_t>(W) * H * 8;
  if (enc->id == AV_CODEC_ID_H264) {
    av_opt_set(ctx.p->priv_data, "crf", "18", 0);
    // x264 picks its SIMD kernels from the CPU, and its float kernels (macroblock-tree rate control)
    // round differently with AVX-512 than with AVX2: the same clip would be other bytes on another
    // machine. Capped at AVX2 where the CPU has it, as the numerics of every computation here are.
    if (__builtin_cpu_supports("avx2")) av_opt_set(ctx.p->priv_data, "x264-params", "asm=AVX2", 0);
  }
  if (out.p->oformat->flags & AVFMT_GLOBALHEADER) ctx.p->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (int e = avcodec_open2(ctx.p, enc, nullptr); e < 0)
    throw std::runtime_error(fmt::format("write_video '{}': cannot open {}: {}", path.string(), enc->name, av_error(e)));
  AVStream* st = avformat_new_stream(out.p, nullptr);
  avcodec_parameters_from_context(st->codecpar, ctx.p);
  st->time_base = ctx.p->time_base;
  if (!(out.p->oformat->flags & AVFMT_NOFILE))
    if (int e = avio_open(&out.p->pb, tmp.c_str(), AVIO_FLAG_WRITE); e < 0)
      throw std::runtime_error(fmt::format("write_video '{}': {}", path.string(), av_error(e)));
  if (int e = avformat_write_header(out.p, nullptr); e < 0)
    throw std::runtime_error(fmt::format("write_video '{}': {}", path.string(), av_error(e)));

  Sws sws;
  sws.p = sws_getContext(W, H, AV_PIX_FMT_RGB24, W, H, pix, SWS_BICUBIC, nullptr, nullptr, nullptr);
  Frame frame;
  frame.p->format = pix;
  frame.p->width = W;
  frame.p->height = H;
  av_frame_get_buffer(frame.p, 0);
  Packet pkt;
  // Every libav call that can fail is checked: a full disk or a file-size limit must fail the
  // write (and leave no target file), not produce a truncated video that looks finished.
  auto check = [&](int e, const char* what) {
    if (e < 0) throw std::runtime_error(fmt::format("write_video '{}': {}: {}", path.string(), what, av_error(e)));
  };
  auto flush = [&](AVFrame* f) {
    check(avcodec_send_frame(ctx.p, f), "avcodec_send_frame");
    for (;;) {
      const int r = avcodec_receive_packet(ctx.p, pkt.p);
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) break;
      check(r, "avcodec_receive_packet");
      // One frame per packet; without a duration the mp4 edit list drops the last frame.
      if (pkt.p->duration == 0) pkt.p->duration = 1;
      av_packet_rescale_ts(pkt.p, ctx.p->time_base, st->time_base);
      pkt.p->stream_index = st->index;
      check(av_interleaved_write_frame(out.p, pkt.p), "av_interleaved_write_frame");
      if (out.p->pb && out.p->pb->error < 0) check(out.p->pb->error, "writing");
    }
  };
  for (int t = 0; t < T; ++t) {
    // Source rows padded to 64 bytes plus a spare row: swscale's SIMD reads whole vectors.
    const int64_t row = (3 * static_cast<int64_t>(W) + 63) / 64 * 64;
    auto padded = torch::zeros({static_cast<int64_t>(H) + 1, row}, torch::kUInt8);
    padded.slice(0, 0, H).slice(1, 0, 3 * W).copy_(frames[t].permute({1, 2, 0}).reshape({H, 3 * W}));
    const uint8_t* src[1] = {padded.data_ptr<uint8_t>()};
    int stride[1] = {static_cast<int>(row)};
    av_frame_make_writable(frame.p);
    sws_scale(sws.p, src, stride, 0, H, frame.p->data, frame.p->linesize);
    frame.p->pts = t;
    flush(frame.p);
  }
  flush(nullptr);
  check(av_write_trailer(out.p), "av_write_trailer");
  if (out.p->pb) {
    avio_flush(out.p->pb);
    if (out.p->pb->error < 0) check(out.p->pb->error, "writing");
    check(avio_closep(&out.p->pb), "avio_closep");
  }
  // Durable before it takes the target's name.
  if (const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) throw std::runtime_error(fmt::format("write_video '{}': fsync: {}", path.string(), std::strerror(errno)));
  }
  fs::rename(tmp, path);
  guard.done = true;
  return enc->name;
}

#else  // no FFmpeg

DecodedVideo decode_video(const fs::path& path, const DecodeOptions&) {
  throw NotImplementedError(fmt::format("{}: this osvbench was built without FFmpeg (OSVBENCH_WITH_FFMPEG=OFF)", path.string()));
}

std::string write_video(const fs::path& path, const torch::Tensor&, double) {
  throw NotImplementedError(fmt::format("{}: this osvbench was built without FFmpeg (OSVBENCH_WITH_FFMPEG=OFF)", path.string()));
}

#endif

}  // namespace osv
