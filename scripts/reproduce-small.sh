#!/usr/bin/env bash
# Regenerates the results snapshot of the embedded default (the `small` preset, CPU) into
# reports/small/ (or $2): the main job (scripts/run.sh: prepare, the real-vs-real FVD, the VAE's
# reconstruction floor, `compare --steps 1,2,8,25` of all four methods and every sampler, Table 1),
# then every ablation table (`ablate --table all`: 1, 2a-2h, fidelity, fig1, fig3, fig5), the HTML
# report of all of it, and a headless-Chromium screenshot of the report when chromium is there.
#
#   bash scripts/reproduce-small.sh [runs folder, default runs] [snapshot folder, default reports/small]
#
# OSVBENCH_TABLES="1 2e fidelity" measures only those ablation tables (default: all);
# OSVBENCH_MAIN_GRID=table1 samples only Table 1's step counts in the comparison (default: full).
# The snapshot's MANIFEST.md lists every table of harness/tables/ and whether this snapshot holds it,
# so a partial snapshot says what it lacks.
#
# Every stage is cached and resumable in the runs folder (a killed run picks up where it stopped;
# a second run measures nothing again). On 2 CPU cores the whole of it is many hours: most of it
# is the trainings of the ablation rows (every row that changes a training knob trains its own
# student). The snapshot holds only files osvbench wrote: results.{json,md} of the comparison,
# ablate.{json,md} per table, the reconstruction's and the real-vs-real FVD's JSON, report.html.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-runs}"
snap="${2:-reports/small}"
main_grid="${OSVBENCH_MAIN_GRID:-full}"  # full: every method at 1/2/8/25 steps
tables_asked="${OSVBENCH_TABLES:-all}"
# The tree's state before this script writes into it (the snapshot's own files would make it dirty).
tree="$(git describe --always --dirty 2>/dev/null || echo unknown)"
OSVBENCH_MAIN_GRID="$main_grid" bash scripts/run.sh "$runs"
source scripts/env.sh
osvbench=build/default/harness/osvbench
echo
read -r -a tables <<< "${tables_asked//,/ }"
for t in "${tables[@]}"; do
  "$osvbench" ablate --preset small --runs "$runs" --table "$t" --format md,json
  echo
done
mkdir -p "$snap"
rm -f "$snap"/ablate-*.json "$snap"/ablate-*.md  # the snapshot holds what this runs folder measured, nothing older
"$osvbench" report --preset small --runs "$runs" --out "$snap/report.html"
cp "$runs/compare-main/results.json" "$snap/compare.json"
cp "$runs/compare-main/results.md" "$snap/compare.md"
cp "$runs/reconstruct/results.json" "$snap/reconstruct.json"
cp "$runs/fvd_real_test_vs_train.json" "$snap/fvd_real_test_vs_train.json"
for d in "$runs"/ablate-*/; do
  [ -f "$d/ablate.json" ] || continue
  # ablate-<table>-<config hash>/: one file pair per table, named by the table.
  t="$(basename "$d")"
  t="${t#ablate-}"
  t="${t%-*}"
  cp "$d/ablate.json" "$snap/ablate-$t.json"
  [ -f "$d/ablate.md" ] && cp "$d/ablate.md" "$snap/ablate-$t.md"
done
{
  echo "# Snapshot of the embedded default (small preset)"
  echo
  echo "Written by scripts/reproduce-small.sh at git $tree"
  echo "on $(date -u +%Y-%m-%dT%H:%MZ); tables asked for: $tables_asked; compare grid: $main_grid."
  echo "Each JSON file carries its own provenance (config hash, git hash, torch, device, detector, seeds, costs)."
  echo
  echo "| table | in this snapshot |"
  echo "|---|---|"
  for f in harness/tables/table_*.json; do
    id="$(basename "$f" .json)"
    id="${id#table_}"
    if [ -f "$snap/ablate-$id.json" ]; then echo "| $id | yes (ablate-$id.json, .md) |"; else echo "| $id | **not measured** |"; fi
  done
} > "$snap/MANIFEST.md"
if command -v chromium >/dev/null 2>&1; then
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1300,1600 \
    --screenshot="$PWD/$snap/report.png" "file://$PWD/$snap/report.html" >/dev/null 2>&1 ||
    echo "warning: the screenshot of the report failed (the report itself is written)" >&2
fi
echo "snapshot: $snap"
