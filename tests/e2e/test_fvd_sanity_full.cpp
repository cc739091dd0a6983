// The full detector sanity suite (label slow, not in the CI run; its slice test_fvd_sanity.cpp is):
// blur, additive noise, frozen frames, shuffled frames and desaturation, three severities each.
// `ctest --preset default -L slow -R FvdSanity` (about 30 min on 2 cores).
#include "tests/e2e/fvd_sanity_suite.h"

namespace osv {
namespace {

TEST(FvdSanity, EmbeddedDetectorOrdersCorruptionsBySeverity) {
  fvd_sanity::run_fvd_sanity({}, "osvbench_test_fvd_sanity_full");
}

}  // namespace
}  // namespace osv
