// FVD preprocessing modes (SPEC §6), recorded in every result:
//   tf        bilinear resize to 224x224 with TF1 legacy coordinates (src = dst * in / out, no
//             half-pixel centres, no antialias), then 2x/255 - 1
//   styleganv uint8 [B, 3, T, H, W] handed as is to the TorchScript detector, which rescales and
//             resizes itself (called with rescale, resize, return_features = true)
//   center    short side to 224 (bilinear, half-pixel, no antialias), centre crop, [-1, 1]
// Videos come in as uint8 [B, T, 3, H, W].
#pragma once

#include <torch/torch.h>

#include <string>

namespace osv {

enum class FvdPreprocess { TF, StyleganV, Center };
FvdPreprocess parse_fvd_preprocess(const std::string& name);
std::string fvd_preprocess_name(FvdPreprocess p);

// x: [..., H, W] float -> [..., out_h, out_w], TF1 legacy bilinear (align_corners=False,
// half_pixel_centers=False): src = dst * in / out, neighbours floor(src) and min(floor+1, in-1).
torch::Tensor resize_bilinear_tf_legacy(const torch::Tensor& x, int64_t out_h, int64_t out_w);

// videos: uint8 [B, T, 3, H, W] -> float [B, 3, T, size, size] in [-1, 1] (tf, center) or
// uint8 [B, 3, T, H, W] (styleganv).
torch::Tensor preprocess_videos(const torch::Tensor& videos, FvdPreprocess mode, int64_t size = 224);

}  // namespace osv
