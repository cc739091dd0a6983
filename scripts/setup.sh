#!/usr/bin/env bash
# Installs everything osvbench needs to build and test, idempotently:
#   1. Debian packages (compiler tools, Eigen, FFmpeg libav*, fmt, nlohmann-json, CLI11,
#      GoogleTest, Google Benchmark, stb, ccache, ninja; Chromium, headless, for the report test),
#      skipping those already present;
#   2. a Python virtual environment with the pinned torch wheel, whose LibTorch the C++
#      build links against. It lives in a per-user cache directory outside the clone,
#      so every clone on this machine (CI's included) shares it.
# Prints the virtual environment's path on its last line.
#
# Environment:
#   OSVBENCH_CACHE      cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/osvbench)
#   OSVBENCH_NO_APT=1   skip the Debian step (e.g. no root, packages provided otherwise)
#   OSVBENCH_PYTHON     python interpreter for the venv (default: python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh
source "$here/env.sh"

say() { printf '[setup] %s\n' "$*" >&2; }

apt_packages=(
  build-essential cmake ninja-build ccache pkg-config git
  python3 python3-venv python3-pip
  libeigen3-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libstb-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  chromium
  clang libclang-rt-dev
  libgloo-dev
)

install_debian() {
  if [[ "${OSVBENCH_NO_APT:-0}" == 1 ]]; then say "OSVBENCH_NO_APT=1: skipping Debian packages"; return; fi
  local missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then say "Debian packages: all ${#apt_packages[@]} present"; return; fi
  say "Debian packages to install: ${missing[*]}"
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  local log="$OSVBENCH_CACHE/apt.log"
  mkdir -p "$OSVBENCH_CACHE"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
         --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -20 "$log" >&2
    say "apt-get failed; full log: $log"
    exit 1
  fi
  say "Debian packages: installed ${#missing[@]} (log: $log)"
}

install_venv() {
  local stamp="$OSVBENCH_VENV/.osvbench-ready"
  local want
  want="$(cat "$here/requirements.txt")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    say "Python venv: ready at $OSVBENCH_VENV"
    return
  fi
  local py="${OSVBENCH_PYTHON:-python3}"
  say "Python venv: creating $OSVBENCH_VENV with $($py --version 2>&1) (pinned: $(grep -v "^#" "$here/requirements.txt" | tr "\n" " "))"
  mkdir -p "$(dirname "$OSVBENCH_VENV")"
  [[ -x "$OSVBENCH_VENV/bin/python" ]] || "$py" -m venv "$OSVBENCH_VENV"
  "$OSVBENCH_VENV/bin/python" -m pip install -q --upgrade pip >&2
  "$OSVBENCH_VENV/bin/python" -m pip install -q --progress-bar off -r "$here/requirements.txt" >&2
  "$OSVBENCH_VENV/bin/python" -c 'import torch; print(torch.__version__)' >/dev/null
  printf '%s' "$want" > "$stamp"
  say "Python venv: ready ($("$OSVBENCH_VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
}

install_debian
install_venv
mkdir -p "$OSVBENCH_CCACHE_DIR"
echo "$OSVBENCH_VENV"
