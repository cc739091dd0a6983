#include "metrics/fvd/detector.h"

#include <fmt/format.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>
#include <torch/script.h>

#include "common/errors.h"
#include "common/sha256.h"

namespace osv {

nlohmann::json DetectorInfo::to_json() const {
  nlohmann::json j = {{"id", id}, {"weights", weights}, {"weights_sha256", weights_sha256},
                      {"preprocess", preprocess}, {"features", features}};
  if (id == "i3d") j["bn_eps"] = bn_eps;
  return j;
}

namespace {

class NativeI3d : public FvdDetector {
 public:
  NativeI3d(const std::filesystem::path& weights, const NativeI3dOptions& o) : o_(o) {
    if (o.preprocess == FvdPreprocess::StyleganV)
      throw UsageError("the styleganv preprocessing belongs to the TorchScript detector (fvd.detector=i3d_torchscript)");
    I3dConfig c;
    c.bn_eps = o.bn_eps;
    net_ = load_i3d(weights, c);
    net_->to(o.device);
    info_ = DetectorInfo{"i3d", weights.string(), sha256_file(weights), fvd_preprocess_name(o.preprocess),
                         o.pooled ? "pool" : "logits", o.bn_eps};
  }
  torch::Tensor features(const torch::Tensor& videos) override {
    torch::NoGradGuard g;
    auto x = preprocess_videos(videos, o_.preprocess, o_.size).to(o_.device);
    auto out = net_->forward(x);
    return (o_.pooled ? out.pooled : out.logits).to(torch::kCPU, torch::kFloat32);
  }

 private:
  NativeI3dOptions o_;
  InceptionI3d net_{nullptr};
};

class TorchScriptI3d : public FvdDetector {
 public:
  TorchScriptI3d(const std::filesystem::path& file, c10::Device device) : device_(device) {
    torch::jit::setTensorExprFuserEnabled(false);
    try {
      module_ = torch::jit::load(file.string(), device);
    } catch (const c10::Error& e) {
      throw InputError(fmt::format("{}: not a loadable TorchScript detector: {}", file.string(), e.what_without_backtrace()));
    }
    module_.eval();
    info_ = DetectorInfo{"i3d_torchscript", file.string(), sha256_file(file), "styleganv", "detector", 0.0};
  }
  torch::Tensor features(const torch::Tensor& videos) override {
    torch::NoGradGuard g;
    auto x = preprocess_videos(videos, FvdPreprocess::StyleganV).to(device_);
    // forward(x, rescale, resize, return_features)
    auto out = module_.forward({x, true, true, true}).toTensor();
    return out.reshape({out.size(0), -1}).to(torch::kCPU, torch::kFloat32);
  }

 private:
  c10::Device device_;
  torch::jit::Module module_;
};

}  // namespace

std::unique_ptr<FvdDetector> make_native_i3d(const std::filesystem::path& weights, const NativeI3dOptions& o) {
  return std::make_unique<NativeI3d>(weights, o);
}

std::unique_ptr<FvdDetector> make_torchscript_i3d(const std::filesystem::path& file, c10::Device device) {
  return std::make_unique<TorchScriptI3d>(file, device);
}

}  // namespace osv
