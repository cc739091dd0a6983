// The TorchScript detector's contract: its forward's signature is checked at load (a module with
// other arguments was called positionally before, its flags silently landing on the wrong names);
// it is called by keyword, so the three flags may come in any order, and all three are true.
#include <gtest/gtest.h>

#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "common/errors.h"
#include "metrics/fvd/detector.h"

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
