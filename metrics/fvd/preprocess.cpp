#include "metrics/fvd/preprocess.h"

#include <fmt/format.h>

#include "common/errors.h"

namespace osv {
namespace F = torch::nn::functional;

FvdPreprocess parse_fvd_preprocess(const std::string& name) {
  if (name == "tf") return FvdPreprocess::TF;
  if (name == "styleganv") return FvdPreprocess::StyleganV;
  if (name == "center") return FvdPreprocess::Center;
  throw UsageError(fmt::format("FVD preprocessing '{}': expected tf, styleganv or center", name));
}

std::string fvd_preprocess_name(FvdPreprocess p) {
  switch (p) {
    case FvdPreprocess::TF: return "tf";
    case FvdPreprocess::StyleganV: return "styleganv";
    case FvdPreprocess::Center: return "center";
  }
  return "?";
}

namespace {
// Source indices and weights of one axis: (i0 [out], i1 [out], w1 [out]).
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> legacy_axis(int64_t in, int64_t out,
                                                                    const torch::TensorOptions& opt) {
  auto src = torch::arange(out, opt.dtype(torch::kFloat64)) * (static_cast<double>(in) / static_cast<double>(out));
  auto i0 = src.floor().clamp_max(in - 1);
  auto w1 = (src - i0).to(opt.dtype());
  auto i0l = i0.to(torch::kLong);
  auto i1l = (i0l + 1).clamp_max(in - 1);
  return {i0l, i1l, w1};
}
}  // namespace

torch::Tensor resize_bilinear_tf_legacy(const torch::Tensor& x, int64_t out_h, int64_t out_w) {
  const int64_t H = x.size(-2), W = x.size(-1);
  auto [y0, y1, wy] = legacy_axis(H, out_h, x.options());
  auto [x0, x1, wx] = legacy_axis(W, out_w, x.options());
  auto rows = x.index_select(-2, y0) * (1 - wy).unsqueeze(-1) + x.index_select(-2, y1) * wy.unsqueeze(-1);
  return rows.index_select(-1, x0) * (1 - wx) + rows.index_select(-1, x1) * wx;
}

torch::Tensor preprocess_videos(const torch::Tensor& videos, FvdPreprocess mode, int64_t size) {
  if (videos.dim() != 5 || videos.size(2) != 3)
    throw InputError(fmt::format("FVD expects videos [B, T, 3, H, W], got {}", c10::str(videos.sizes())));
  if (mode == FvdPreprocess::StyleganV) return videos.to(torch::kUInt8).permute({0, 2, 1, 3, 4}).contiguous();
  auto x = videos.to(torch::kFloat32);  // [B, T, 3, H, W], 0..255
  const auto B = x.size(0), T = x.size(1), H = x.size(3), W = x.size(4);
  if (mode == FvdPreprocess::TF) {
    x = resize_bilinear_tf_legacy(x, size, size);
  } else {
    const double scale = static_cast<double>(size) / static_cast<double>(std::min(H, W));
    const auto nh = std::max<int64_t>(size, static_cast<int64_t>(std::lround(H * scale)));
    const auto nw = std::max<int64_t>(size, static_cast<int64_t>(std::lround(W * scale)));
    x = F::interpolate(x.reshape({B * T, 3, H, W}), F::InterpolateFuncOptions()
                                                        .size(std::vector<int64_t>{nh, nw})
                                                        .mode(torch::kBilinear)
                                                        .align_corners(false));
    const int64_t top = (nh - size) / 2, left = (nw - size) / 2;
    x = x.slice(2, top, top + size).slice(3, left, left + size).reshape({B, T, 3, size, size});
  }
  x = x * (2.0 / 255.0) - 1.0;
  return x.permute({0, 2, 1, 3, 4}).contiguous();  // [B, 3, T, S, S]
}

}  // namespace osv
