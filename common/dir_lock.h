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
// In a process group (dist/), rank 0 holds the locks for the whole group and the other ranks
// follow it in lockstep; they take none (else a rank waiting on a lock that rank 0 holds while
// rank 0 waits on it in a collective would hang both). Called once by dist::init.
void set_dir_locks_enabled(bool enabled);

std::optional<DirLock> lock_unless_done(const std::filesystem::path& done, const std::filesystem::path& lock_file,
                                        const std::string& what);

}  // namespace osv
