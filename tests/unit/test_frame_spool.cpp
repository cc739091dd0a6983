// The conditioning frames the Evaluator spools to an unnamed temporary file come back exactly, by
// any range, and a batch of another frame size is refused.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "common/errors.h"
#include "harness/evaluate.h"

namespace osv {
namespace {

TEST(FrameSpool, RangesReadBackExactly) {
  FrameSpool spool;
  torch::manual_seed(1);
  const auto a = torch::randint(0, 256, {5, 3, 6, 7}, torch::kUInt8);
  const auto b = torch::randint(0, 256, {4, 3, 6, 7}, torch::kUInt8);
  spool.append(a);
  spool.append(b.permute({0, 1, 3, 2}).contiguous().permute({0, 1, 3, 2}));  // not contiguous: stored as values
  ASSERT_EQ(spool.count(), 9);
  const auto all = torch::cat({a, b});
  EXPECT_TRUE(torch::equal(spool.read(0, 9), all));
  EXPECT_TRUE(torch::equal(spool.read(3, 7), all.slice(0, 3, 7)));
  EXPECT_EQ(spool.read(4, 4).size(0), 0);
  EXPECT_THROW(spool.read(8, 10), std::out_of_range);
  EXPECT_THROW(spool.append(torch::zeros({1, 3, 7, 6}, torch::kUInt8)), InputError);
}

// Nothing is left behind under $TMPDIR: the file never has a name there.
TEST(FrameSpool, LeavesNoFileBehind) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("osv_spool_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  ::setenv("TMPDIR", dir.c_str(), 1);
  {
    FrameSpool spool;
    spool.append(torch::ones({2, 3, 4, 4}, torch::kUInt8));
    EXPECT_TRUE(fs::is_empty(dir));
    EXPECT_TRUE(torch::equal(spool.read(1, 2), torch::ones({1, 3, 4, 4}, torch::kUInt8)));
  }
  if (old) ::setenv("TMPDIR", saved.c_str(), 1); else ::unsetenv("TMPDIR");
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace osv
