// The fuzz targets' one helper: the input bytes as a file (an anonymous memory file, so nothing
// touches the disk), for readers that take a path.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace osv::fuzz {

class MemFile {
 public:
  MemFile(const uint8_t* data, std::size_t size) {
    fd_ = memfd_create("osvbench-fuzz", 0);
    if (fd_ < 0) std::abort();
    for (std::size_t off = 0; off < size;) {
      const auto n = ::write(fd_, data + off, size - off);
      if (n <= 0) std::abort();
      off += static_cast<std::size_t>(n);
    }
  }
  ~MemFile() { ::close(fd_); }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_ = -1;
};

}  // namespace osv::fuzz
