// The detector sanity suite's CI slice (label e2e): the embedded detector of the small preset orders
// one spatial corruption (blur) and one temporal one (frozen frames) by severity, and its real
// features have no dominating tail. The full suite of five corruptions is test_fvd_sanity_full.cpp
// (label slow: `ctest --preset default -L slow -R FvdSanity`).
#include "tests/e2e/fvd_sanity_suite.h"

namespace osv {
namespace {

TEST(FvdSanity, EmbeddedDetectorOrdersBlurAndFrozenFramesBySeverity) {
  fvd_sanity::run_fvd_sanity({"blur sigma", "frozen frac"}, "osvbench_test_fvd_sanity_slice");
}

}  // namespace
}  // namespace osv
