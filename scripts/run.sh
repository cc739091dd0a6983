#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs osvbench's main job
# on the embedded default (the `small` preset, CPU).
#
# What exists today: the CLI, configs and the run planner. `osvbench compare` itself lands
# with the methods and the harness; until then this prints the machine's capabilities and
# the comparison the embedded default will run (every method x steps 1,2,8,25, one config
# hash and run directory per row). Nothing is trained or scored yet, and it says so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
source scripts/env.sh
bash scripts/build.sh default
osvbench=build/default/harness/osvbench
"$osvbench" info
echo
"$osvbench" compare --preset small --steps 1,2,8,25 --dry-run "$@"
echo
echo "Planned only: 'osvbench compare' (training, sampling and FVD) has not been implemented yet."
