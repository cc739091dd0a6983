#!/usr/bin/env bash
# Kills a run with SIGKILL ten times at random moments, reruns it after each kill, and checks that
# what it finally writes equals what an uninterrupted run writes (checkpoints and result files are
# atomic, a resumed training continues exactly, a cached row is trusted only when whole).
#   training (animatelcm | sfv | osv): the trained weights must be bit-identical;
#   compare: `osvbench compare` on tiny (the teacher and AnimateLCM, 1 and 2 steps: training, then
#   sampling and FVD of every row, 128 clips each) — every row's FVD and interval must be equal to
#   the last digit. Each kill lands anywhere in the uninterrupted run's duration (training,
#   sampling, FVD, writing), on a fresh copy of the assets, and is followed by a complete rerun.
# Not part of CI (a few minutes); run it after touching the training loop, a method's state, the
# rows cache or the result writers.
#   scripts/kill_resume.sh [build dir] [animatelcm | sfv | osv | compare] [kills]
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
  # A short distillation (60 steps) and 128 clips per row, so kills land in sampling and FVD too.
  compare) knobs+=(animatelcm.iters=60 data.num_test=128 sample.num_samples=128 fvd.num_real=128) ;;
  *) echo "method: animatelcm, sfv, osv or compare" >&2; exit 2 ;;
esac

# The command under test on a runs folder, as an array (started directly, not through a shell
# function: `$!` must be osvbench itself, or kill -9 would hit a subshell and leave the run going).
command_for() {  # command_for <runs dir>: sets cmd
  if [[ "$method" == compare ]]; then
    cmd=("$exe" compare --methods teacher,animatelcm --steps 1,2 --cfg none --format json "${knobs[@]}"
      --runs "$1" --out "$1/report")
  else
    cmd=("$exe" train --method "$method" "${knobs[@]}" --runs "$1")
  fi
}
run() { command_for "$1"; "${cmd[@]}"; }

# What must not differ: trained weights, or every row's measured numbers (not timings or RSS).
fingerprint() {
  if [[ "$method" == compare ]]; then
    "$OSVBENCH_PY" - "$1/report/results.json" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
for r in sorted(rows, key=lambda r: (r["method"], r["sampler"], r["steps"])):
    print(r["method"], r["sampler"], r["steps"], r["nfe"], repr(r["fvd"]), json.dumps(r.get("ci"), sort_keys=True),
          r["weights_sha256"] if "weights_sha256" in r else "")
EOF
  else
    sha256sum "$1"/$dirglob/$weights | cut -d' ' -f1
  fi
}
OSVBENCH_PY=$(command -v python3)

echo "[kill-resume] assets (shared by both runs)" >&2
"$exe" prepare "${knobs[@]}" --runs "$work/ref" >/dev/null 2>&1
mkdir -p "$work/killed"
cp -r "$work/ref/assets" "$work/killed/assets"

echo "[kill-resume] uninterrupted $method run" >&2
t0=$(date +%s.%N)
run "$work/ref" >/dev/null 2>&1
duration=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "[kill-resume] it took ${duration} s" >&2
[[ "$method" == compare ]] && max_sleep=$duration

late=0  # kills that came after the run had finished (they test nothing)
kill_once() {  # kill_once <i>: start a run in the killed folder, SIGKILL it after a random delay
  command_for "$work/killed"
  "${cmd[@]}" >/dev/null 2>&1 &
  pid=$!
  delay=$(awk -v s="$RANDOM" -v m="$max_sleep" 'BEGIN { srand(s); printf "%.2f", 0.5 + m * rand() }')
  sleep "$delay"
  if kill -9 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
    if pgrep -f -- "--runs $work/killed" >/dev/null; then
      echo "[kill-resume] FAIL: a process of the killed run is still running" >&2
      exit 1
    fi
    # The most recently written file of the killed runs folder: where the kill landed.
    last=$(find "$work/killed" -type f -newer "$work/killed/assets" -printf '%T@ %P\n' 2>/dev/null | sort -n |
      tail -n 1 | cut -d' ' -f2-)
    echo "[kill-resume] kill $1 after ${delay} s; last file written: ${last:-none}" >&2
  else
    wait "$pid" || true
    late=$((late + 1))
    echo "[kill-resume] kill $1 after ${delay} s: the run had already finished" >&2
  fi
}

a=$(fingerprint "$work/ref")
echo "[kill-resume] uninterrupted:" >&2
echo "$a" >&2
if [[ "$method" == compare ]]; then
  # Each kill on a fresh copy of the assets (a finished compare is all cached: a second kill would
  # land on nothing), then a rerun that must complete with the uninterrupted results.
  for i in $(seq 1 "$kills"); do
    rm -rf "$work/killed"
    mkdir -p "$work/killed"
    cp -r "$work/ref/assets" "$work/killed/assets"
    kill_once "$i"
    run "$work/killed" >/dev/null 2>&1
    b=$(fingerprint "$work/killed")
    if [[ "$a" != "$b" ]]; then
      echo "[kill-resume] FAIL: the rerun after kill $i differs:" >&2
      echo "$b" >&2
      exit 1
    fi
  done
  if ((late * 2 > kills)); then
    echo "[kill-resume] FAIL: $late of $kills kills came after the run had finished" >&2
    exit 1
  fi
  echo "[kill-resume] ok: $((kills - late)) kills during the run ($late after it), each rerun identical" >&2
  exit 0
fi

# A training run: every kill on the same run folder, then one final resume.
for i in $(seq 1 "$kills"); do kill_once "$i"; done
echo "[kill-resume] final resume" >&2
run "$work/killed" >/dev/null 2>&1
b=$(fingerprint "$work/killed")
echo "[kill-resume] killed x$kills:" >&2
echo "$b" >&2
if [[ "$a" != "$b" ]]; then
  echo "[kill-resume] FAIL: the resumed run's weights differ" >&2
  exit 1
fi
echo "[kill-resume] ok: bit-identical after $kills kills" >&2
