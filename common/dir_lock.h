// An exclusive advisory lock (flock) on a file, held for a scope: two osvbench processes sharing
// one runs folder never train or measure the same thing at once. The second waits — saying what
// for — and then finds the first one's result in the cache. The lock dies with its process (kill
// -9 included), so a crashed run never blocks the next one.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace osv {

class DirLock {
 public:
  // Locks `file` (created if missing, with its parent folders); `what` names the work in the
  // waiting message ("training sfv-1a2b3c").
  DirLock(const std::filesystem::path& file, const std::string& what);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

// The lock of a cached piece of work whose presence is marked by `done`: none when `done` exists,
// else `lock_file` locked (waiting for another process that holds it). The caller checks `done`
// again afterwards: the other process may have finished it.
std::optional<DirLock> lock_unless_done(const std::filesystem::path& done, const std::filesystem::path& lock_file,
                                        const std::string& what);

}  // namespace osv
