#!/usr/bin/env bash
# Configures and builds a CMake preset (default: the CPU Release build in build/default)
# against the venv's LibTorch. Assumes scripts/setup.sh has run.
#   scripts/build.sh [preset] [extra cmake --build args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
preset="${1:-default}"
shift || true
if [[ ! -f "build/$preset/build.ninja" ]]; then
  cmake --preset "$preset" >&2
fi
cmake --build --preset "$preset" "$@" >&2
