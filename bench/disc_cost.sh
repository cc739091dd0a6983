#!/usr/bin/env bash
# Runs bench_disc for both discriminator input paths in separate processes and prints the ratio.
#   bench/disc_cost.sh [build dir] [extra bench_disc args...]
set -euo pipefail
exe="${1:-build/default}/bench/bench_disc"
shift || true
up="$("$exe" --kind upsampler "$@")"
dec="$("$exe" --kind decoder "$@")"
echo "$up"
echo "$dec"
python3 - "$up" "$dec" <<'PY'
import json, sys
u, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"decoder / upsampler: time {d['s_per_step'] / u['s_per_step']:.2f}x, peak RSS {d['peak_rss_mib'] / u['peak_rss_mib']:.2f}x")
PY
