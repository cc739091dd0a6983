#!/usr/bin/env bash
# The GPU checks in one go, for a CUDA machine with a CUDA torch wheel, cmake and ninja (FFmpeg's
# development packages are not needed): builds only the targets the checks use, then
#   1. the discriminator-path cost at SVD scale (the paper's Figure 3): bench_disc for the
#      upsampler, the VAE decoder and SF-V's UNet encoder, 14 frames at 512x512 (latents 64x64),
#      bf16, random weights;
#   2. the gpu-labelled tests (UNet and VAE bf16 on CUDA vs fp32 on the CPU; every method trains two
#      steps and samples a clip on CUDA in fp32 and bf16, at the tiny shape and at SVD's 14x72x128 latents);
#   3. the full-size SVD UNet's latency per NFE (bench_unet_nfe);
#   3b. clip latency through osvbench's sampling path at SVD-xt's size, bf16 (bench_pipeline): VAE
#      decode of 14 frames, a 1-step OSV clip end to end, the teacher's 25-step CFG clip, each with
#      its ratio to the diffusers peer figure;
#   4. `osvbench ablate --table fig3 --preset svd disc_cost.dtype=bf16`: the same whole-step costs through
#      the harness (each path in its own process), written under $out/runs/;
#   5. the gradient all-reduce on GPU tensors (bench_dist under torchrun): NCCL with one rank per GPU
#      where the machine has 2 or more, and on one GPU 2 ranks sharing it through the store backend
#      (host buckets; NCCL refuses two ranks on one device).
# Each result is written as soon as it exists, to ${1:-out/gpu}/*.json / *.log.
#   OSVBENCH_PYTHON             python whose torch to build against (default python3)
#   OSVBENCH_EXTRA_INCLUDE      a folder holding headers the machine lacks (CLI/CLI.hpp, stb/stb_image*.h)
#   OSVBENCH_GPU_CHECKS         which checks (default "disc gen tests unet pipeline dist"): disc = the discriminator
#                               paths alone, gen = whole training steps (generator included), tests =
#                               the gpu tests, unet = the UNet latency, pipeline = clip latencies,
#                               fig3 = ablate --table fig3, dist = the all-reduce on GPU tensors
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-out/gpu}"
mkdir -p "$out"
py="${OSVBENCH_PYTHON:-python3}"
prefix="$("$py" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
bdir="${OSVBENCH_BUILD_DIR:-build/cuda}"
extra=()
if [[ -n "${OSVBENCH_EXTRA_INCLUDE:-}" ]]; then
  extra+=("-DOSVBENCH_CLI11_INCLUDE_DIR=$OSVBENCH_EXTRA_INCLUDE" "-DCMAKE_INCLUDE_PATH=$OSVBENCH_EXTRA_INCLUDE"
          "-DCMAKE_CXX_FLAGS=-I$OSVBENCH_EXTRA_INCLUDE")
fi
start=$(date +%s)
cmake -S . -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOSVBENCH_WITH_CUDA=ON -DOSVBENCH_WITH_FFMPEG=OFF \
  -DOSVBENCH_USE_CCACHE=OFF -DCMAKE_PREFIX_PATH="$prefix" "${extra[@]}" >"$out/configure.log" 2>&1 ||
  { tail -30 "$out/configure.log"; exit 1; }
checks="${OSVBENCH_GPU_CHECKS:-disc gen tests unet pipeline dist}"
has() { [[ " $checks " == *" $1 "* ]]; }
targets=(bench_disc)
has tests && targets+=(osvbench gpu_tests)
has fig3 && targets+=(osvbench)
has unet && targets+=(bench_unet_nfe)
has pipeline && targets+=(bench_pipeline)
has dist && targets+=(bench_dist)
cmake --build "$bdir" -j "$(nproc)" --target "${targets[@]}" >"$out/build.log" 2>&1 ||
  { grep -E "error|FAILED" "$out/build.log" | head -30; exit 1; }
echo "[gpu] configured and built in $(( $(date +%s) - start )) s"
for mode in disc gen; do
  has "$mode" || continue
  for kind in upsampler decoder unet_encoder; do
    "$bdir/bench/bench_disc" --kind "$kind" --arch svd --device cuda --dtype bf16 --frames 14 --latent-h 64 \
      --latent-w 64 --iters 3 --with-generator "$([[ $mode == gen ]] && echo 1 || echo 0)" \
      >"$out/${mode}_$kind.json" 2>"$out/${mode}_$kind.err" ||
      echo "[gpu] bench_disc $mode $kind failed: $(tail -3 "$out/${mode}_$kind.err")"
    cat "$out/${mode}_$kind.json"
  done
  "$py" - "$out" "$mode" <<'PY' || true
import json, sys, pathlib
d, mode = pathlib.Path(sys.argv[1]), sys.argv[2]
rows = {k: json.loads((d / f"{mode}_{k}.json").read_text()) for k in ("upsampler", "decoder", "unet_encoder")
        if (d / f"{mode}_{k}.json").stat().st_size}
u = rows.get("upsampler")
for k, r in rows.items():
    if u and k != "upsampler":
        print(f"[gpu] {mode}: {k} / upsampler: time {r['s_per_step'] / u['s_per_step']:.2f}x, "
              f"peak CUDA memory {r['peak_cuda_mib'] / u['peak_cuda_mib']:.2f}x")
PY
done
if has tests; then
  "$bdir/harness/osvbench" info | tee "$out/info.log"
  "$bdir/tests/gpu_tests" 2>&1 | tee "$out/gpu_tests.log" | grep -E "\[gpu\]|OK|FAILED|PASSED"
fi
if has unet; then
  "$bdir/bench/bench_unet_nfe" --arch svd --frames 14 --height 72 --width 128 --dtype bf16 --device cuda \
    --iters 10 --warmup 3 2>&1 | tee "$out/unet_nfe.json"
fi
if has pipeline; then
  "$bdir/bench/bench_pipeline" --arch svd --device cuda --precision bf16 --frames 14 --height 576 --width 1024 \
    --iters 3 2>&1 | tee "$out/pipeline.json"
fi
if has fig3; then
  "$bdir/harness/osvbench" ablate --table fig3 --preset svd --runs "$out/runs" disc_cost.dtype=bf16 2>&1 | tee "$out/fig3.log" |
    grep -v "^fig3 \["
fi
if has dist; then
  torchrun="$(dirname "$py")/torchrun"
  [[ -x $torchrun ]] || torchrun="$(command -v torchrun || true)"
  gpus="$("$py" -c 'import torch; print(torch.cuda.device_count())')"
  if [[ -z $torchrun ]]; then
    echo "[gpu] dist: no torchrun next to $py"
  elif ((gpus >= 2)); then
    "$torchrun" --standalone --nproc-per-node "$gpus" --no-python "$bdir/bench/bench_dist" --device cuda --reps 10 \
      --mib 1 16 64 256 2>&1 | tee "$out/dist_nccl.json"
  else
    OSVBENCH_DIST_BACKEND=store "$torchrun" --standalone --nproc-per-node 2 --no-python "$bdir/bench/bench_dist" \
      --device cuda --reps 5 --mib 1 16 64 2>&1 | tee "$out/dist_store_1gpu.json"
  fi
fi
echo "[gpu] done in $(( $(date +%s) - start )) s"
