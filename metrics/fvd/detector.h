// The FVD detector: native I3D (safetensors weights) or the widely used TorchScript I3D
// (`i3d_torchscript.pt`, forward(x, rescale, resize, return_features)). Every result records
// its id, the weights' sha256, the preprocessing mode, the feature kind and bn eps.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "metrics/fvd/i3d.h"
#include "metrics/fvd/preprocess.h"

namespace osv {

struct DetectorInfo {
  std::string id;              // "i3d" | "i3d_torchscript"
  std::string weights;         // path as given
  std::string weights_sha256;
  std::string preprocess;      // tf | styleganv | center
  std::string features;        // logits | pool
  double bn_eps = 0;           // native only
  nlohmann::json to_json() const;
};

class FvdDetector {
 public:
  virtual ~FvdDetector() = default;
  // videos: uint8 [B, T, 3, H, W] -> features [B, D] (float32, CPU)
  virtual torch::Tensor features(const torch::Tensor& videos) = 0;
  const DetectorInfo& info() const { return info_; }

 protected:
  DetectorInfo info_;
};

struct NativeI3dOptions {
  FvdPreprocess preprocess = FvdPreprocess::TF;
  double bn_eps = 1e-3;
  bool pooled = false;  // 1024-d pooled features instead of the 400 logits
  int64_t size = 224;
  c10::Device device = c10::Device(c10::kCPU);
};
std::unique_ptr<FvdDetector> make_native_i3d(const std::filesystem::path& weights, const NativeI3dOptions& o);

// Loads with torch::jit::load; the TensorExpr fuser is switched off (its CPU fusion of this
// graph is the usual source of spurious failures). Input is the styleganv preprocessing.
std::unique_ptr<FvdDetector> make_torchscript_i3d(const std::filesystem::path& file,
                                                  c10::Device device = c10::Device(c10::kCPU));

}  // namespace osv
