#!/usr/bin/env bash
# The unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (CMake preset `asan`), a
# nightly-style check: a full second build (~25 min on 2 cores), too long for every CI run.
#   scripts/asan.sh [ctest label regex, default: unit]
# Leak detection is off: LibTorch's static registries are reported as leaks at exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
source scripts/env.sh
bash scripts/build.sh asan
ctest --preset asan -L "${1:-unit}" -j "$(nproc)"
