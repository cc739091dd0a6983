#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs osvbench's main job on
# the embedded default (the `small` preset, CPU). Results go to runs/ (or $1 as --runs).
#
# What runs today (a few minutes on 2 cores):
#   1. `osvbench info`;
#   2. `osvbench prepare --only data,detector`: the synthetic split (2048 train + 256 test clips,
#      8 frames, 64x64, mp4 + labels) and the embedded FVD detector;
#   3. `osvbench fvd compute` between the held-out test clips and the training clips: the FVD
#      floor of real-vs-real data that every method's score is read against, with its CI;
#   4. the comparison grid that `osvbench compare` will run once the methods land (dry run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
source scripts/env.sh
bash scripts/build.sh default
osvbench=build/default/harness/osvbench
runs="${1:-runs}"
"$osvbench" info
echo
prepare_out="$("$osvbench" prepare --preset small --runs "$runs" --only data,detector)"
echo "$prepare_out"
data="$(echo "$prepare_out" | sed -n 's/^data: *\(.*\) ([0-9.]* s)$/\1/p')"
echo
"$osvbench" fvd compute --preset small --runs "$runs" --real "$data/test" --fake "$data/train" \
  --out "$runs/fvd_real_test_vs_train.json"
echo
"$osvbench" compare --preset small --runs "$runs" --steps 1,2,8,25 --dry-run
echo
echo "Planned only: 'osvbench compare' (training, sampling and FVD of generated clips) has not been implemented yet."
