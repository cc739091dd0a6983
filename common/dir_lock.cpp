#include "common/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/errors.h"
#include "common/log.h"

namespace osv {
namespace {
std::atomic<bool> locks_enabled{true};
}  // namespace

void set_dir_locks_enabled(bool enabled) { locks_enabled = enabled; }

DirLock::DirLock(const std::filesystem::path& file, const std::string& what) {
  if (!locks_enabled) return;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw InputError(fmt::format("cannot open lock file {}: {}", file.string(), std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
  if (errno != EWOULDBLOCK) {
    ::close(fd_);
    throw InputError(fmt::format("cannot lock {}: {}", file.string(), std::strerror(errno)));
  }
  log::info("waiting for another osvbench process that is {} (lock {})", what, file.string());
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) {
      ::close(fd_);
      throw InputError(fmt::format("cannot lock {}: {}", file.string(), std::strerror(errno)));
    }
  }
  log::info("the other process finished {}; continuing", what);
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

std::optional<DirLock> lock_unless_done(const std::filesystem::path& done, const std::filesystem::path& lock_file,
                                        const std::string& what) {
  if (std::filesystem::exists(done)) return std::nullopt;
  return std::optional<DirLock>(std::in_place, lock_file, what);  // a prvalue: DirLock never moves
}

}  // namespace osv
