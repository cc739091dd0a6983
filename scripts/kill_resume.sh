#!/usr/bin/env bash
# Kills a training run with SIGKILL ten times at random moments, reruns it after each kill, and
# checks that the weights it finally writes are bit-identical to those of an uninterrupted run
# (the training loop's promise: checkpoints are atomic, a resumed run continues exactly).
# Not part of CI (a few minutes); run it after touching the training loop or a method's state.
#   scripts/kill_resume.sh [build dir] [method: animatelcm | sfv | osv] [kills]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bdir=${1:-build/default}
method=${2:-animatelcm}
kills=${3:-10}
exe="$bdir/harness/osvbench"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
knobs=(--preset tiny run.checkpoint_every=3 animatelcm.iters=300 sfv.iters=200 osv.stage1_iters=60 osv.stage2_iters=120)
max_sleep=2.5  # seconds after start-up (~1 s); OSV's two stages take longer, so its kills spread wider
case "$method" in
  animatelcm) weights=unet.safetensors; dirglob="animatelcm-*" ;;
  sfv) weights=unet.safetensors; dirglob="sfv-*" ;;
  osv) weights=lora.safetensors; dirglob="osv-stage2-*"; max_sleep=12 ;;
  *) echo "method: animatelcm, sfv or osv" >&2; exit 2 ;;
esac

echo "[kill-resume] assets (shared by both runs)" >&2
"$exe" prepare "${knobs[@]}" --runs "$work/ref" >/dev/null 2>&1
mkdir -p "$work/killed"
cp -r "$work/ref/assets" "$work/killed/assets"

echo "[kill-resume] uninterrupted $method run" >&2
"$exe" train --method "$method" "${knobs[@]}" --runs "$work/ref" >/dev/null 2>&1

for i in $(seq 1 "$kills"); do
  "$exe" train --method "$method" "${knobs[@]}" --runs "$work/killed" >/dev/null 2>&1 &
  pid=$!
  sleep "$(awk -v s="$RANDOM" -v m="$max_sleep" 'BEGIN { srand(s); printf "%.2f", 0.5 + m * rand() }')"
  if kill -9 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
    # The most recently written metrics file: the stage the kill interrupted (OSV has two).
    last=$(ls -t "$work"/killed/*/metrics.jsonl 2>/dev/null | head -n 1 || true)
    step=$([[ -n "$last" ]] && tail -n 1 "$last" | sed -n 's/.*"step":\([0-9]*\).*/\1/p' || true)
    echo "[kill-resume] kill $i at logged step ${step:-none} of $(basename "$(dirname "${last:-none/x}")")" >&2
  else
    wait "$pid" || true
    echo "[kill-resume] kill $i: the run had already finished" >&2
  fi
done
echo "[kill-resume] final resume" >&2
"$exe" train --method "$method" "${knobs[@]}" --runs "$work/killed" >/dev/null 2>&1

a=$(sha256sum "$work"/ref/$dirglob/$weights | cut -d' ' -f1)
b=$(sha256sum "$work"/killed/$dirglob/$weights | cut -d' ' -f1)
echo "[kill-resume] uninterrupted $a" >&2
echo "[kill-resume] killed x$kills $b" >&2
if [[ "$a" != "$b" ]]; then
  echo "[kill-resume] FAIL: the resumed run's weights differ" >&2
  exit 1
fi
echo "[kill-resume] ok: bit-identical after $kills kills" >&2
