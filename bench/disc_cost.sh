#!/usr/bin/env bash
# Runs bench_disc for the three discriminator paths in separate processes and prints the ratios
# to the upsampler (the paper's Figure 3).
#   bench/disc_cost.sh [build dir] [extra bench_disc args, e.g. --arch svd --device cuda --dtype bf16]
set -euo pipefail
exe="${1:-build/default}/bench/bench_disc"
shift || true
results=()
for kind in upsampler decoder unet_encoder; do
  r="$("$exe" --kind "$kind" "$@")"
  echo "$r"
  results+=("$r")
done
python3 - "${results[@]}" <<'PY'
import json, sys
rows = [json.loads(a) for a in sys.argv[1:]]
mem = "peak_cuda_mib" if "peak_cuda_mib" in rows[0] else "peak_rss_mib"
u = rows[0]
for r in rows[1:]:
    print(f"{r['kind']} / upsampler: time {r['s_per_step'] / u['s_per_step']:.2f}x, {mem} {r[mem] / u[mem]:.2f}x")
PY
