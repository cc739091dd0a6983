// Error types that carry the process exit code osvbench reports for them.
// Exit codes (documented in `osvbench --help`):
//   0 success, 1 runtime failure, 2 usage error (bad option, override or config),
//   3 the requested feature has not been implemented yet, 4 input data/checkpoint error.
#pragma once

#include <stdexcept>
#include <string>

namespace osv {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,
  kExitUsage = 2,
  kExitNotImplemented = 3,
  kExitBadInput = 4,
  kExitNotComparable = 5,  // regress: this run's assets are other bits than the baseline's
};

// A mistake in how osvbench was called: unknown key, wrong type, bad value.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A feature that a later piece of work will deliver; names what is missing.
class NotImplementedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input files: corrupt checkpoint, wrong shape, unreadable video.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace osv
