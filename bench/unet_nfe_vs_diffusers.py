"""Per-NFE latency of the tiny SVD UNet: osvbench (C++) vs diffusers (Python eager), on the same
CPU, the same thread count and the same inputs, measured in one run. Prints both and the ratio.

    python bench/unet_nfe_vs_diffusers.py --exe build/default/bench/bench_unet_nfe [--threads 2]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "parity"))
import make_refs  # noqa: E402  (the parity references build the same tiny UNet)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--exe", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()

    from diffusers import UNetSpatioTemporalConditionModel
    from safetensors.torch import load_file

    with tempfile.TemporaryDirectory() as d:
        make_refs.make_unet(d)
        unet = UNetSpatioTemporalConditionModel.from_pretrained(os.path.join(d, "unet")).eval()
        io = load_file(os.path.join(d, "unet_io.safetensors"))
        torch.set_num_threads(args.threads)
        times = []
        with torch.no_grad():
            for i in range(args.warmup + args.iters):
                t0 = time.perf_counter()
                unet(io["sample"], io["timestep"], encoder_hidden_states=io["encoder_hidden_states"],
                     added_time_ids=io["added_time_ids"])
                if i >= args.warmup:
                    times.append((time.perf_counter() - t0) * 1000)
        py_ms = statistics.median(times)
        out = subprocess.run([args.exe, "--folder", os.path.join(d, "unet"), "--io",
                              os.path.join(d, "unet_io.safetensors"), "--threads", str(args.threads),
                              "--iters", str(args.iters), "--warmup", str(args.warmup)],
                             check=True, capture_output=True, text=True).stdout
        cpp = json.loads(out.strip().splitlines()[-1])
    shape = list(io["sample"].shape)
    print(f"tiny SVD UNet, sample {shape}, {args.threads} thread(s), median of {args.iters}:")
    print(f"  diffusers eager (Python): {py_ms:8.2f} ms/NFE")
    print(f"  osvbench (C++ LibTorch):  {cpp['median_ms']:8.2f} ms/NFE")
    print(f"  ratio diffusers / osvbench = {py_ms / cpp['median_ms']:.2f}x")


if __name__ == "__main__":
    main()
