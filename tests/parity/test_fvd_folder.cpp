// `osvbench fvd compute` on folders of real mp4s (sizes and fps unlike any preset's) against an
// independent Python pipeline (tests/parity/make_refs.py: PyAV decoding, the protocol's frames and
// resize, the same detector weights, FD from numpy's eigh) under fvd2048_16f (StyleGAN-V: the
// TorchScript detector, normaliser N) and fvd_tf (TF: the native I3D after TF1 bilinear resize,
// normaliser N-1): FVD equal within 1e-4 relative (the issue asks 1e-3; measured 1.8e-5 and
// 5e-6 here, float32 features computed by two runtimes). The decoded pixels of the first video are
// compared too (printed: both decoders are FFmpeg, but of different versions).
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "datasets/video_backend.h"
#include "datasets/video_io.h"
#include "tests/e2e/e2e_util.h"
#include "tests/parity/parity_util.h"

namespace osv {
namespace {
namespace fs = std::filesystem;

double osvbench_fvd(const std::string& tag, const std::string& protocol, const std::string& weights) {
  const auto d = parity::dir() / "fvd_folders";
  const auto out = d / (tag + ".json");
  auto [code, text] = e2e::run("fvd compute --runs " + (d / "runs").string() + " --real " + (d / (tag + "_real")).string() +
                               " --fake " + (d / (tag + "_fake")).string() + " --protocol " + protocol +
                               " --allow-fewer fvd.bootstrap=0 fvd.weights=" + (parity::dir() / weights).string() +
                               " --out " + out.string());
  EXPECT_EQ(code, 0) << text;
  if (code != 0) return NAN;
  const auto j = nlohmann::json::parse(read_file(out));
  EXPECT_EQ(j["n_real"], 5);
  EXPECT_EQ(j["protocol"]["name"], protocol);
  return j["fvd"].get<double>();
}

void check(const std::string& tag, const std::string& protocol, const std::string& weights) {
  if (!video_backend_info().available) GTEST_SKIP() << "built without FFmpeg";
  const auto ref = parity::io("fvd_folders");
  for (const char* role : {"real", "fake"}) {
    const auto cpp = decode_video(parity::dir() / "fvd_folders" / (tag + "_" + role) / "v00.mp4").frames;  // [T, 3, H, W]
    const auto py = ref.tensor(tag + "." + role + ".frames0").permute({0, 3, 1, 2});
    ASSERT_EQ(cpp.slice(0, 0, 16).sizes(), py.sizes());
    const auto diff = (cpp.slice(0, 0, 16).to(torch::kInt32) - py.to(torch::kInt32)).abs();
    std::printf("[parity] %s %s v00 decoded pixels: max |C++ - PyAV| = %d, share differing %.4f\n", tag.c_str(), role,
                diff.max().item<int>(), diff.gt(0).to(torch::kFloat64).mean().item<double>());
  }
  const double fvd = osvbench_fvd(tag, protocol, weights), expected = ref.tensor(tag + ".fvd").item<double>();
  const double rel = std::abs(fvd - expected) / std::abs(expected);
  std::printf("[parity] fvd %-12s osvbench %.8g  python %.8g  relative difference %.3g (tolerance 1e-4)\n",
              protocol.c_str(), fvd, expected, rel);
  EXPECT_LE(rel, 1e-4);
}

TEST(ParityFvdFolder, StyleganVProtocolMatchesPython) { check("sg", "fvd2048_16f", "fvd_i3d_torchscript.pt"); }
TEST(ParityFvdFolder, TfProtocolMatchesPython) { check("tf", "fvd_tf", "fvd_i3d.safetensors"); }

}  // namespace
}  // namespace osv
