#include "common/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/errors.h"

namespace osv {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void throw_errno(std::string_view what, const fs::path& p) {
  throw std::runtime_error(fmt::format("{} '{}': {}", what, p.string(), std::strerror(errno)));
}

class TempFile {
 public:
  explicit TempFile(const fs::path& target) {
    static std::atomic<unsigned> counter{0};
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    fs::create_directories(dir);
    path_ = dir / fmt::format("{}{}{}.{}", target.filename().string(), kAtomicTempMarker, ::getpid(), counter++);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) throw_errno("cannot create temporary file", path_);
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) {
      std::error_code ec;
      fs::remove(path_, ec);
    }
  }
  void write(std::string_view data) {
    const char* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno("cannot write", path_);
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  void commit(const fs::path& target) {
    if (::fsync(fd_) != 0) throw_errno("cannot fsync", path_);
    if (::close(fd_) != 0) {
      fd_ = -1;
      throw_errno("cannot close", path_);
    }
    fd_ = -1;
    if (::rename(path_.c_str(), target.c_str()) != 0) throw_errno("cannot rename temporary file onto", target);
    committed_ = true;
    // Make the rename itself durable.
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  fs::path path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void atomic_write_with(const fs::path& path, const std::function<void(const ChunkWriter&)>& producer) {
  TempFile tmp(path);
  producer([&](std::string_view chunk) { tmp.write(chunk); });
  tmp.commit(path);
}

void atomic_write(const fs::path& path, std::string_view data) {
  atomic_write_with(path, [&](const ChunkWriter& w) { w(data); });
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("cannot read '{}': {}", path.string(), std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace osv
