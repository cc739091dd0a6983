#!/usr/bin/env python3
"""Peak memory of one compare row against the number of clips N: the Evaluator streams the held-out
clips into the real statistics and each row's generated clips into its own, so the process's peak
RSS should not grow with N (issue: memory that does not grow with N).

    python3 bench/rss_vs_n.py --exe build/default/harness/osvbench [--n 256,2048] [--runs DIR]

Each N runs `osvbench compare` on the tiny preset (teacher, 1 Euler step, no CFG) in a process of
its own, with data.num_test = the largest N, fvd.num_real = sample.num_samples = N, and reads the
row's peak_rss_mib. The tiny assets for that test split are built first by `osvbench prepare` (about
a minute, in its own process), and rows measured before are dropped so every N is measured.
Prints one line per N and the ratio of the largest to the smallest. Also prints what the clips
alone would take if held whole (N x T x 3 x H x W bytes, for the real and the generated set)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exe", required=True)
    ap.add_argument("--n", default="256,2048")
    ap.add_argument("--runs", default="")
    a = ap.parse_args()
    ns = [int(x) for x in a.n.split(",")]
    runs = a.runs or tempfile.mkdtemp(prefix="osvbench-rss-")
    out = {}
    common = ["--preset", "tiny", "--runs", runs, f"data.num_test={max(ns)}"]
    r = subprocess.run([a.exe, "prepare"] + common, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"prepare failed:\n{r.stdout}\n{r.stderr}")
    shutil.rmtree(os.path.join(runs, "rows"), ignore_errors=True)
    for n in ns:
        folder = os.path.join(runs, f"compare-{n}")
        cmd = [a.exe, "compare", "--methods", "teacher", "--steps", "1", "--cfg", "none", "--format", "json",
               "--out", folder] + common + [f"fvd.num_real={n}", f"sample.num_samples={n}", "fvd.bootstrap=10"]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
        row = json.load(open(os.path.join(folder, "results.json")))["rows"][0]
        cfg = row["provenance"]["config"]
        held = 2 * n * cfg["data"]["frames"] * 3 * cfg["data"]["height"] * cfg["data"]["width"] / 2**20
        out[n] = row["peak_rss_mib"]
        print(f"N = {n:5d}: peak RSS {row['peak_rss_mib']:8.1f} MiB (n_real {row['n_real']}, n_fake {row['n_fake']}; "
              f"the clips held whole would be {held:.1f} MiB)")
    lo, hi = min(ns), max(ns)
    print(f"peak RSS at N = {hi} / N = {lo}: {out[hi] / out[lo]:.3f}")


if __name__ == "__main__":
    main()
