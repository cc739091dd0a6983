// Atomic writes: the target holds the old or the new content, never a torn one.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "common/atomic_file.h"
#include "common/errors.h"

namespace osv {
namespace {
namespace fs = std::filesystem;

class AtomicFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("osvbench_test_atomic_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::size_t entries() const { return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), {})); }
  fs::path dir_;
};

TEST_F(AtomicFile, WritesAndReplaces) {
  atomic_write(dir_ / "a.txt", "first");
  EXPECT_EQ(read_file(dir_ / "a.txt"), "first");
  atomic_write(dir_ / "a.txt", "second, longer");
  EXPECT_EQ(read_file(dir_ / "a.txt"), "second, longer");
  EXPECT_EQ(entries(), 1u);
}

TEST_F(AtomicFile, CreatesParentDirectories) {
  atomic_write(dir_ / "x" / "y" / "z.json", "{}");
  EXPECT_EQ(read_file(dir_ / "x" / "y" / "z.json"), "{}");
}

TEST_F(AtomicFile, FailureMidWriteLeavesTheOldFileAndNoTemporary) {
  atomic_write(dir_ / "ckpt.bin", "old content");
  EXPECT_THROW(atomic_write_with(dir_ / "ckpt.bin",
                                 [](const ChunkWriter& w) {
                                   w("new cont");
                                   throw std::runtime_error("disk full (simulated)");
                                 }),
               std::runtime_error);
  EXPECT_EQ(read_file(dir_ / "ckpt.bin"), "old content");
  EXPECT_EQ(entries(), 1u);
}

TEST_F(AtomicFile, FailureOnANewFileLeavesNothing) {
  EXPECT_THROW(atomic_write_with(dir_ / "new.bin", [](const ChunkWriter& w) {
    w("partial");
    throw std::runtime_error("simulated");
  }),
               std::runtime_error);
  EXPECT_FALSE(fs::exists(dir_ / "new.bin"));
  EXPECT_EQ(entries(), 0u);
}

TEST_F(AtomicFile, ProcessKilledMidWriteLeavesTheOldFile) {
  atomic_write(dir_ / "state.json", "committed");
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    atomic_write_with(dir_ / "state.json", [](const ChunkWriter& w) {
      w("half of the new sta");
      ::_exit(9);  // dies like kill -9: no unwinding, no cleanup
    });
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 9);
  EXPECT_EQ(read_file(dir_ / "state.json"), "committed");
  // The orphaned temporary is recognisable by its marker.
  std::size_t temps = 0;
  for (const auto& e : fs::directory_iterator(dir_))
    if (e.path().filename().string().find(kAtomicTempMarker) != std::string::npos) ++temps;
  EXPECT_EQ(temps, 1u);
}

TEST_F(AtomicFile, ReadingAMissingFileNamesIt) {
  try {
    read_file(dir_ / "missing.json");
    FAIL() << "no exception";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.json"), std::string::npos);
  }
}

}  // namespace
}  // namespace osv
