"""FVD peer comparisons, measured in one run on the same machine and thread count:
  1. Fréchet distance at 400-d, 1024-d and 2048-d: osvbench (LAPACK in double: Cholesky +
     eigenvalues) vs scipy.linalg.sqrtm (the pytorch-fid / TF-GAN formula) on the same statistics,
     with the relative difference of the two FDs;
  2. I3D throughput at 16x224x224 (clips/s): osvbench native (channels-last 3-D convolutions,
     inference mode) vs osvbench TorchScript vs PyTorch eager (Python), on the same random weights.

    python bench/fvd_vs_python.py --exe build/default/bench/bench_fvd [--threads 2]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.linalg
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "parity"))
import i3d_ref  # noqa: E402


def run(exe, *args):
    out = subprocess.run([exe, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exe", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--clips", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        print(f"Fréchet distance ({args.threads} thread(s)):")
        for dim in (400, 1024, 2048):
            x1 = rng.standard_normal((max(2000, 2 * dim), dim)) @ (rng.standard_normal((dim, dim)) / np.sqrt(dim))
            x2 = rng.standard_normal((max(2000, 2 * dim), dim)) @ (rng.standard_normal((dim, dim)) / np.sqrt(dim)) + 0.1
            mu1, mu2 = x1.mean(0), x2.mean(0)
            s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
            iters = 3 if dim < 2048 else 1
            t0 = time.perf_counter()
            for _ in range(iters):
                covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
                fd_py = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
            py_s = (time.perf_counter() - t0) / iters
            path = os.path.join(d, f"stats{dim}.safetensors")
            save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in
                       {"mu1": mu1, "s1": s1, "mu2": mu2, "s2": s2}.items()}, path)
            cpp = run(args.exe, "--threads", str(args.threads), "frechet", path, "--iters", str(iters))
            print(f"  {dim:4d}-d: scipy sqrtm {py_s * 1000:8.1f} ms   osvbench {cpp['seconds_per_fd'] * 1000:8.1f} ms"
                  f"   ratio scipy/osvbench = {py_s / cpp['seconds_per_fd']:.2f}x"
                  f"   (relative FD difference {abs(fd_py - cpp['fd']) / abs(fd_py):.1e})")

        torch.manual_seed(0)
        net = i3d_ref.InceptionI3d().eval()
        weights = os.path.join(d, "i3d.safetensors")
        save_file({k: v.contiguous() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")},
                  weights)
        script = os.path.join(d, "i3d.pt")
        torch.jit.script(i3d_ref.Detector(net)).save(script)
        x = torch.randint(0, 256, (1, 3, 16, 224, 224), dtype=torch.uint8)
        det = i3d_ref.Detector(net).eval()
        with torch.no_grad():
            det(x, True, False, True)
            t0 = time.perf_counter()
            for _ in range(args.clips):
                det(x, True, False, True)
            py = args.clips / (time.perf_counter() - t0)
        cpp = run(args.exe, "--threads", str(args.threads), "i3d", weights, script, "--clips", str(args.clips))
        print(f"I3D, 16x224x224 clips, {args.threads} thread(s):")
        print(f"  PyTorch eager (Python): {py:6.2f} clips/s")
        print(f"  osvbench native:        {cpp['native_clips_per_s']:6.2f} clips/s  ({cpp['native_clips_per_s'] / py:.2f}x)")
        print(f"  osvbench TorchScript:   {cpp['torchscript_clips_per_s']:6.2f} clips/s  "
              f"({cpp['torchscript_clips_per_s'] / py:.2f}x)")


if __name__ == "__main__":
    main()
