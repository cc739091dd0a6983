// Child processes started from an argument vector (posix_spawn), never through a shell: no value
// osvbench passes to a child (config strings, paths) can be read as shell syntax.
#pragma once

#include <string>
#include <vector>

namespace osv {

struct ProcessResult {
  int exit_code = -1;    // the child's exit status; -1 when it did not exit normally
  int signal = 0;        // the signal that ended it, else 0
  std::string stdout_text;  // what it wrote to stdout (its stderr passes through to ours)
};

// Runs argv[0] (a path, not searched on PATH) with argv, waits, and returns its stdout.
// Throws osv::InputError when the child cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv);

}  // namespace osv
