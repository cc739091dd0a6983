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
#   4. `osvbench compare --steps 1,2,8,25` of the teacher (CFG 3.0), OSV (consistency and Time
#      Travel samplers), AnimateLCM and SF-V on the 256 held-out first frames, training the
#      distilled methods first (cached runs): FVD with CI, counted NFE, latency, throughput, memory;
#   5. `osvbench ablate --table 1`: the paper's Table 1 rows, measured next to the paper's values
#      (rows already measured by step 4 are reused from the row cache);
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
"$osvbench" compare --preset small --runs "$runs" --methods teacher,osv,animatelcm,sfv --steps 1,2,8,25 \
  --samplers euler,consistency,tts --budget-matched --out "$runs/compare-main"
echo
"$osvbench" ablate --preset small --runs "$runs" --table 1
echo
"$osvbench" report --preset small --runs "$runs" --out "$runs/report.html"
