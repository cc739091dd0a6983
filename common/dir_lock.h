// An exclusive advisory lock (flock) on a file, held for a scope: two osvbench processes sharing
// one runs folder never train or measure the same thing at once. The second waits — saying what
// for — and then finds the first one's result in the cache. The lock dies with its process (kill
// -9 included), so a crashed run never blocks the next one.
#pragma once

#include <filesystem>
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
  bool waited() const { return waited_; }  // another process held it first

 private:
  int fd_ = -1;
  bool waited_ = false;
};

}  // namespace osv
