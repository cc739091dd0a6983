// A run's directory, named by the hash of its resolved config:
//   <run.root>/<method>-<hash12>/config.json   (written atomically on first use)
// Reopening a run with the same config finds the same directory, which is how finished
// stages are reused and killed runs resume.
#pragma once

#include <filesystem>
#include <string>

#include "common/config.h"

namespace osv {

class RunDir {
 public:
  // Creates the directory and its config.json if needed. Throws osv::InputError when an
  // existing config.json there does not hash to the same value (a damaged run directory).
  static RunDir open(const Config& config);
  // The directory a config maps to, without touching the disk.
  static std::filesystem::path path_for(const Config& config);

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path file(const std::string& name) const { return path_ / name; }
  bool existed() const { return existed_; }

 private:
  std::filesystem::path path_;
  bool existed_ = false;
};

}  // namespace osv
