// Child processes from an argument vector: shell syntax in an argument stays text.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/errors.h"
#include "common/subprocess.h"

namespace fs = std::filesystem;

TEST(Subprocess, ArgumentsAreNeverShellSyntax) {
  const auto dir = fs::temp_directory_path() / "osvbench_test_subprocess";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string evil = "x;touch " + (dir / "pwn").string() + " $(touch " + (dir / "pwn2").string() + ")";
  const auto r = osv::run_process({"/bin/echo", evil});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_text, evil + "\n");
  EXPECT_FALSE(fs::exists(dir / "pwn"));
  EXPECT_FALSE(fs::exists(dir / "pwn2"));
  fs::remove_all(dir);
}

TEST(Subprocess, ExitStatusAndStartFailure) {
  EXPECT_EQ(osv::run_process({"/bin/sh", "-c", "exit 7"}).exit_code, 7);
  EXPECT_THROW(osv::run_process({"/nonexistent/osvbench"}), osv::InputError);
}
