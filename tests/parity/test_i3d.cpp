// I3D: the C++ native network (tf preprocessing), the C++ TorchScript path and Python agree on
// the features of the same uint8 videos (random weights, 287 tensors in the port's names).
#include "metrics/fvd/detector.h"
#include "models/safetensors.h"
#include "tests/parity/parity_util.h"

namespace osv {
namespace {

TEST(ParityI3d, NativeMatchesPython) {
  const auto ref = parity::io("i3d");
  EXPECT_EQ(SafetensorsFile::open(parity::dir() / "i3d_random.safetensors").entries().size(), 287u);
  NativeI3dOptions o;
  auto logits = make_native_i3d(parity::dir() / "i3d_random.safetensors", o)->features(ref.tensor("videos"));
  parity::expect_close("i3d native logits (tf)", logits, ref.tensor("logits"), 1e-4);
  o.pooled = true;
  auto pooled = make_native_i3d(parity::dir() / "i3d_random.safetensors", o)->features(ref.tensor("videos"));
  parity::expect_close("i3d native pooled (tf)", pooled, ref.tensor("pooled"), 1e-4);
}

TEST(ParityI3d, TorchScriptMatchesPythonAndNative) {
  const auto ref = parity::io("i3d");
  auto det = make_torchscript_i3d(parity::dir() / "i3d_torchscript_random.pt");
  auto f = det->features(ref.tensor("videos"));
  parity::expect_close("i3d torchscript (C++) vs python", f, ref.tensor("scripted"), 1e-4);
  parity::expect_close("i3d torchscript (C++) vs native (C++)", f,
                       make_native_i3d(parity::dir() / "i3d_random.safetensors", {})->features(ref.tensor("videos")), 1e-4);
  EXPECT_EQ(det->info().weights_sha256.size(), 64u);
  EXPECT_EQ(det->info().preprocess, "styleganv");
}

}  // namespace
}  // namespace osv
