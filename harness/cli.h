// The `osvbench` command line: sub-commands prepare, train, sample, fvd, compare, reconstruct, ablate,
// regress, report and info. Returns the process exit code (see common/errors.h).
#pragma once

namespace osv {
int run_cli(int argc, char** argv);
}
