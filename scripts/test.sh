#!/usr/bin/env bash
# The README's test command: installs what is missing (scripts/setup.sh), builds the CPU
# preset and runs the test suites with ctest.
#   OSVBENCH_TEST_LABELS  ctest label regex (default: unit|parity|e2e|dist; add |slow for more)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
source scripts/env.sh
start=$(date +%s)
bash scripts/build.sh default
echo "[test] built in $(( $(date +%s) - start )) s" >&2
# Two test processes share the cores: OpenMP threads that spin while waiting for work would slow
# each other down many times over, so they sleep instead.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
ctest --preset default -L "${OSVBENCH_TEST_LABELS:-unit|parity|e2e|dist}" -j "$(nproc)"
# The FVD regression gate: reruns a committed tiny baseline's rows and fails (exit 1) when a row's
# FVD is worse beyond the statistical tolerance (harness/regress.h). Refresh the baseline after an
# intended change with --update (every file below).
# The tiny assets are the same bits on machines of one kind, not on every x86 CPU (README, "Same
# bits on every machine"), so there is one baseline per machine class whose bits are known:
# regress_tiny.json (AMD EPYC, AVX2), then regress_tiny.<machine>.json. The gate judges against the
# first whose assets this machine reproduces (the runs folder is shared: the models are trained once).
# Exit 5 (NOT COMPARABLE) from all of them: this machine trained the tiny assets to other bits than
# every baseline's (the tables name the first differing asset), so no FVD can be judged. That is not
# a regression of the change under test: it is reported loudly and, unless OSVBENCH_GATE_STRICT=1,
# does not fail the run.
baselines=()
for baseline in tests/baselines/regress_tiny.json tests/baselines/regress_tiny.*.json; do
  [[ -f $baseline ]] && baselines+=(--baseline "$baseline")
done
echo "[test] FVD regression gate against ${baselines[*]}" >&2
gate=0
build/default/harness/osvbench regress "${baselines[@]}" --runs build/default/regress-runs || gate=$?
if [[ $gate == 5 && "${OSVBENCH_GATE_STRICT:-0}" != 1 ]]; then
  echo "[test] WARNING: the FVD gate could not judge on this machine: its tiny assets are other bits than" \
    "every baseline's (see the asset tables above; lscpu: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'))." \
    "No FVD regression was checked. OSVBENCH_GATE_STRICT=1 makes this fail." >&2
elif [[ $gate != 0 ]]; then
  exit "$gate"
fi
# libFuzzer with ASan + UBSan over the parsers of untrusted bytes (safetensors, config, CSV, video),
# a bounded slice of OSVBENCH_FUZZ_SECONDS per target (0 skips; longer runs by hand: scripts/fuzz.sh 600).
if [[ "${OSVBENCH_FUZZ_SECONDS:-45}" != 0 ]]; then
  echo "[test] fuzzing ${OSVBENCH_FUZZ_SECONDS:-45} s per target" >&2
  bash scripts/fuzz.sh "${OSVBENCH_FUZZ_SECONDS:-45}"
fi
