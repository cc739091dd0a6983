#include "metrics/fvd/detector.h"

#include <fmt/format.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>
#include <torch/script.h>

#include <algorithm>

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

// TF32 convolutions and matmuls (LibTorch's default for cuDNN convolutions on CUDA) add ~1e-3
// relative noise to detector features: off while the detector runs, restored after.
class NoTf32 {
 public:
  explicit NoTf32(c10::Device device) : active_(device.is_cuda()) {
    if (!active_) return;
    auto& ctx = at::globalContext();
    cudnn_ = ctx.allowTF32CuDNN();
    cublas_ = ctx.allowTF32CuBLAS();
    ctx.setAllowTF32CuDNN(false);
    ctx.setAllowTF32CuBLAS(false);
  }
  ~NoTf32() {
    if (!active_) return;
    at::globalContext().setAllowTF32CuDNN(cudnn_);
    at::globalContext().setAllowTF32CuBLAS(cublas_);
  }
  NoTf32(const NoTf32&) = delete;
  NoTf32& operator=(const NoTf32&) = delete;

 private:
  bool active_ = false, cudnn_ = false, cublas_ = false;
};

class NativeI3d : public FvdDetector {
 public:
  NativeI3d(const std::filesystem::path& weights, const NativeI3dOptions& o) : o_(o) {
    if (o.preprocess == FvdPreprocess::StyleganV)
      throw UsageError("the styleganv preprocessing belongs to the TorchScript detector (fvd.detector=i3d_torchscript)");
    I3dConfig c;
    c.bn_eps = o.bn_eps;
    net_ = load_i3d(weights, c);
    net_->to(o.device);
    net_->eval();
    // 3-D convolutions in channels-last (oneDNN's fast layout on CPU): weights converted once.
    if (o.device.is_cpu()) {
      torch::NoGradGuard g;
      for (auto& p : net_->parameters())
        if (p.dim() == 5) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast3d));
    }
    info_ = DetectorInfo{"i3d", weights.string(), sha256_file(weights), fvd_preprocess_name(o.preprocess),
                         o.pooled ? "pool" : "logits", o.bn_eps};
  }
  torch::Tensor features(const torch::Tensor& videos) override {
    c10::InferenceMode g;
    NoTf32 exact(o_.device);
    auto x = preprocess_videos(videos, o_.preprocess, o_.size).to(o_.device);
    if (o_.device.is_cpu()) x = x.contiguous(at::MemoryFormat::ChannelsLast3d);
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
    check_signature(file);
    info_ = DetectorInfo{"i3d_torchscript", file.string(), sha256_file(file), "styleganv", "detector", 0.0};
  }
  torch::Tensor features(const torch::Tensor& videos) override {
    c10::InferenceMode g;
    NoTf32 exact(device_);
    auto x = preprocess_videos(videos, FvdPreprocess::StyleganV).to(device_);
    // By keyword: a module whose flags come in another order still gets each one right.
    auto out = module_.get_method("forward")({x}, {{"rescale", true}, {"resize", true}, {"return_features", true}})
                   .toTensor();
    return out.reshape({out.size(0), -1}).to(torch::kCPU, torch::kFloat32);
  }

 private:
  // The detector's contract (StyleGAN-V's i3d_torchscript.pt):
  // forward(self, x, rescale: bool, resize: bool, return_features: bool) -> Tensor.
  void check_signature(const std::filesystem::path& file) const {
    const auto method = module_.find_method("forward");
    if (!method) throw InputError(fmt::format("{}: the TorchScript module has no forward method", file.string()));
    const auto& schema = method->function().getSchema();
    std::vector<std::string> names;
    for (const auto& a : schema.arguments()) names.push_back(a.name());
    const std::vector<std::string> want = {"self", "x", "rescale", "resize", "return_features"};
    // The three flags' names, in any order (the call passes them by keyword); their types are the
    // file's business.
    bool ok = names.size() == want.size() &&
              std::is_permutation(names.begin() + 2, names.end(), want.begin() + 2, want.end());
    if (!ok)
      throw InputError(fmt::format("{}: the TorchScript detector's signature is {}; expected forward(self, x, "
                                   "rescale, resize, return_features) (StyleGAN-V's i3d_torchscript.pt)",
                                   file.string(), c10::toString(schema)));
  }

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
