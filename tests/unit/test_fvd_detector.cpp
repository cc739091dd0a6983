// The TorchScript detector's contract: its forward's signature is checked at load (a module with
// other arguments was called positionally before, its flags silently landing on the wrong names);
// it is called by keyword, so the three flags may come in any order, and all three are true.
#include <gtest/gtest.h>

#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/errors.h"
#include "metrics/fvd/detector.h"
#include "metrics/fvd/embedded_detector.h"
#include "metrics/fvd/i3d.h"

namespace osv {
namespace {

namespace fs = std::filesystem;

fs::path save_module(const std::string& name, const std::string& source) {
  const auto dir = fs::temp_directory_path() / "osvbench_test_fvd_detector";
  fs::create_directories(dir);
  torch::jit::Module m("Detector");
  m.define(source);
  const auto path = dir / name;
  m.save(path.string());
  return path;
}

std::string load_error(const fs::path& file) {
  try {
    make_torchscript_i3d(file);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// The flags come back as features: [rescale, 2 * resize, 4 * return_features].
TEST(FvdDetector, TorchScriptDetectorGetsEveryFlagTrueInAnyOrder) {
  const auto swapped = save_module("swapped.pt", R"(
def forward(self, x, return_features: bool, resize: bool, rescale: bool):
    b = x.size(0)
    f = torch.tensor([float(rescale), 2.0 * float(resize), 4.0 * float(return_features)])
    return f.unsqueeze(0).repeat(b, 1)
)");
  auto det = make_torchscript_i3d(swapped);
  const auto f = det->features(torch::zeros({2, 4, 3, 8, 8}, torch::kUInt8));
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f[0][0].item<float>(), 1.0f);
  EXPECT_EQ(f[0][1].item<float>(), 2.0f);
  EXPECT_EQ(f[0][2].item<float>(), 4.0f);
}

TEST(FvdDetector, TorchScriptDetectorWithAnotherSignatureIsRejectedAtLoad) {
  const auto two_flags = save_module("two_flags.pt", R"(
def forward(self, x, rescale: bool, resize: bool):
    return x.float().mean()
)");
  const auto msg = load_error(two_flags);
  EXPECT_NE(msg.find("rescale, resize, return_features"), std::string::npos) << msg;
  EXPECT_NE(msg.find("two_flags.pt"), std::string::npos) << msg;
  const auto renamed = save_module("renamed.pt", R"(
def forward(self, x, rescale: bool, resize: bool, features: bool):
    return x.float().mean()
)");
  EXPECT_NE(load_error(renamed).find("signature"), std::string::npos);
  fs::remove_all(two_flags.parent_path());
}

}  // namespace
}  // namespace osv

namespace osv {
namespace {
// The embedded detector's batch norm over a process group's global batch, in one process (the
// all-reduce is the identity there): torch's training-mode batch norm, forward and backward, and
// the running statistics momentum 1 gives. The 2-rank case is the dist test's.
TEST(FvdDetector, GlobalBatchNormIsTorchsBatchNormInOneProcess) {
  torch::manual_seed(3);
  const auto x = (torch::randn({4, 5, 3, 6, 6}, torch::kFloat32) * 2 + 0.5).requires_grad_();
  const auto w = (torch::rand({5}) + 0.5).requires_grad_(), b = torch::randn({5}).requires_grad_();
  const auto up = torch::randn({4, 5, 3, 6, 6});
  auto rm = torch::zeros({5}), rv = torch::ones({5});
  auto y = global_batch_norm(x, w, b, rm, rv, 1e-3);
  auto [gx, gw, gb] = [&] {
    auto g = torch::autograd::grad({(y * up).sum()}, {x, w, b});
    return std::tuple{g[0], g[1], g[2]};
  }();
  auto rm2 = torch::zeros({5}), rv2 = torch::ones({5});
  auto y2 = torch::batch_norm(x, w, b, rm2, rv2, /*training=*/true, /*momentum=*/1.0, 1e-3, false);
  auto g2 = torch::autograd::grad({(y2 * up).sum()}, {x, w, b});
  EXPECT_LT((y - y2).abs().max().item<double>(), 1e-5);
  EXPECT_LT((gx - g2[0]).abs().max().item<double>() / g2[0].abs().max().item<double>(), 1e-5);
  EXPECT_LT((gw - g2[1]).abs().max().item<double>() / g2[1].abs().max().item<double>(), 1e-5);
  EXPECT_LT((gb - g2[2]).abs().max().item<double>() / g2[2].abs().max().item<double>(), 1e-5);
  EXPECT_LT((rm - rm2).abs().max().item<double>(), 1e-5);
  EXPECT_LT((rv - rv2).abs().max().item<double>(), 1e-4);
}
// The embedded detector's cached file is named by a key of its options: every option that shapes
// the weights changes it (a detector trained with another motion weight was found under the old
// name before the key existed), splitting the batch across ranks (same weights) does not.
TEST(FvdDetector, EmbeddedDetectorKeyFollowsEveryOptionThatShapesTheWeights) {
  const EmbeddedDetectorOptions base;
  const auto key = embedded_i3d_key(base);
  EXPECT_EQ(key.size(), 12u);
  EXPECT_EQ(embedded_i3d_key(base), key);
  const std::vector<std::pair<std::string, std::function<void(EmbeddedDetectorOptions&)>>> changes = {
      {"seed", [](auto& o) { o.seed = 1; }},
      {"input_size", [](auto& o) { o.input_size = 32; }},
      {"frames", [](auto& o) { o.frames = 4; }},
      {"calibration_clips", [](auto& o) { o.calibration_clips = 32; }},
      {"train_steps", [](auto& o) { o.train_steps = 401; }},
      {"batch", [](auto& o) { o.batch = 8; }},
      {"lr", [](auto& o) { o.lr = 1e-4; }},
      {"grad_clip", [](auto& o) { o.grad_clip = 0.5; }},
      {"motion_weight", [](auto& o) { o.motion_weight = 16.0; }},
      {"finetune_lr", [](auto& o) { o.finetune_lr = 3e-5; }},
      {"bn_eps", [](auto& o) { o.bn_eps = 1e-5; }},
  };
  for (const auto& [name, change] : changes) {
    auto o = base;
    change(o);
    EXPECT_NE(embedded_i3d_key(o), key) << name;
  }
  auto dp = base;
  dp.data_parallel = true;
  EXPECT_EQ(embedded_i3d_key(dp), key);
}

}  // namespace
}  // namespace osv
