#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs osvbench's main job on
# the embedded default (the `small` preset, CPU). Results go to runs/ (or $1 as --runs).
#
#   1. `osvbench info`;
#   2. `osvbench prepare`: the synthetic split (2048 train + 256 test clips, 8 frames, 64x64, mp4 +
#      labels), the embedded FVD detector, and the embedded SVD — VAE, image encoder and teacher
#      UNet trained from scratch on the split (cached and resumable);
#   3. `osvbench fvd compute` between the held-out test clips and the training clips: the FVD
#      floor of real-vs-real data that every method's score is read against, with its CI;
#   3b. `osvbench reconstruct`: the embedded VAE's reconstructions of the held-out clips scored the
#      same way, next to the training-vs-held-out FVD at the same N (what the decoder alone,
#      which decodes every method's samples, costs);
#   4. `osvbench compare` of the teacher (CFG 3.0, Euler 1/2/8/25 steps), OSV (consistency and Time
#      Travel samplers, 1/2 steps), AnimateLCM (1/2/4/8) and SF-V (1) — the step counts of the
#      paper's Table 1 — on the 256 held-out first frames, training the distilled methods first
#      (cached runs, equal budgets): FVD with CI, counted NFE, latency, throughput, memory, training
#      cost. OSVBENCH_MAIN_GRID=full samples every method at 1/2/8/25 steps instead (the students'
#      8- and 25-step rows: tens of minutes more sampling on 2 cores);
#   5. `osvbench ablate --table 1`: the paper's Table 1 rows, measured next to the paper's values
#      (every row was measured by step 4 and is reused from the row cache);
#   6. `osvbench report`: one self-contained HTML file of all of it, whose path is printed last.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
source scripts/env.sh
bash scripts/build.sh default
osvbench=build/default/harness/osvbench
runs="${1:-runs}"
"$osvbench" info
echo
prepare_out="$("$osvbench" prepare --preset small --runs "$runs" --only data,detector,vae,image_encoder,teacher)"
echo "$prepare_out"
data="$(echo "$prepare_out" | sed -n 's/^data: *\(.*\) ([0-9.]* s)$/\1/p')"
echo
"$osvbench" fvd compute --preset small --runs "$runs" --real "$data/test" --fake "$data/train" \
  --out "$runs/fvd_real_test_vs_train.json"
echo
"$osvbench" reconstruct --preset small --runs "$runs" --out "$runs/reconstruct"
echo
grid=(--steps 1,2,8,25 --steps-for osv=1,2 --steps-for animatelcm=1,2,4,8 --steps-for sfv=1)
if [[ "${OSVBENCH_MAIN_GRID:-table1}" == full ]]; then grid=(--steps 1,2,8,25); fi
"$osvbench" compare --preset small --runs "$runs" --methods teacher,osv,animatelcm,sfv "${grid[@]}" \
  --samplers euler,consistency,tts --budget-matched --out "$runs/compare-main"
echo
"$osvbench" ablate --preset small --runs "$runs" --table 1
echo
"$osvbench" report --preset small --runs "$runs" --out "$runs/report.html"
