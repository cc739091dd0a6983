#!/usr/bin/env bash
# GPU build: configures and builds the `cuda` preset against the LibTorch of an installed
# torch wheel (CUDA build), on a machine with CUDA, cmake and ninja, with or without FFmpeg's
# development packages, then runs the tests: every unit test plus those labelled gpu.
#   OSVBENCH_PYTHON   python whose torch to use (default: $OSVBENCH_VENV/bin/python, else python3)
#   OSVBENCH_BUILD_DIR build folder (default: build/cuda)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
py="${OSVBENCH_PYTHON:-}"
if [[ -z "$py" ]]; then
  if [[ -x "$OSVBENCH_VENV/bin/python" ]]; then py="$OSVBENCH_VENV/bin/python"; else py=python3; fi
fi
prefix="$("$py" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
cuda="$("$py" -c 'import torch; print(torch.version.cuda or "")')"
[[ -n "$cuda" ]] || { echo "[gpu-build] $py's torch is a CPU build; a CUDA torch is needed" >&2; exit 1; }
ffmpeg=ON
pkg-config --exists libavformat libavcodec libavutil libswscale libswresample 2>/dev/null || ffmpeg=OFF
bdir="${OSVBENCH_BUILD_DIR:-build/cuda}"
echo "[gpu-build] torch $("$py" -c 'import torch; print(torch.__version__)') (CUDA $cuda), FFmpeg=$ffmpeg, -> $bdir" >&2
start=$(date +%s)
cmake -S . -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOSVBENCH_WITH_CUDA=ON \
  -DOSVBENCH_WITH_FFMPEG="$ffmpeg" -DCMAKE_PREFIX_PATH="$prefix" -DTorch_DIR="$prefix/Torch" "$@"
cmake --build "$bdir" -j "$(nproc)"
echo "[gpu-build] configured and built in $(( $(date +%s) - start )) s" >&2
"$bdir/harness/osvbench" info
ctest --test-dir "$bdir" -L 'unit|gpu' -j "$(nproc)" --output-on-failure
ctest --test-dir "$bdir" -L gpu -V 2>&1 | grep '\[gpu\]' || true
if "$bdir/harness/osvbench" info | grep -q "CUDA       available"; then
  echo "[gpu-build] full-size SVD UNet, random weights, 14 frames, 576x1024 (latent 72x128), bf16, per NFE:" >&2
  "$bdir/bench/bench_unet_nfe" --arch svd --frames 14 --height 72 --width 128 --dtype bf16 --device cuda \
    --iters 10 --warmup 3
fi
