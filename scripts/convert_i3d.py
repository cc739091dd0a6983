"""Converts a public PyTorch I3D checkpoint (the pytorch-i3d port's names) to the safetensors file
osvbench's native I3D loads. For FVD use VideoGPT/TATS's i3d_pretrained_400.pt, the port of
TF-Hub's Kinetics-400 I3D that TF's FVD and StyleGAN-V use; pytorch-i3d's rgb_imagenet.pt has the
same names but other weights (its FVDs do not compare with published ones).

    python scripts/convert_i3d.py i3d_pretrained_400.pt i3d_kinetics400.safetensors

Unwraps {"state_dict": ...}, strips "module." prefixes, drops BatchNorm's num_batches_tracked,
and checks the result is exactly the 287 tensors of InceptionI3d (names and ranks) before writing.
Then: osvbench fvd ... fvd.weights=i3d_kinetics400.safetensors
"""

import argparse
import sys

import torch
from safetensors.torch import save_file

MIXED = ["Mixed_3b", "Mixed_3c", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f", "Mixed_5b", "Mixed_5c"]
UNITS = ["Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3"] + [
    f"{m}.{b}" for m in MIXED for b in ("b0", "b1a", "b1b", "b2a", "b2b", "b3b")]


def expected_names():
    names = {}
    for u in UNITS:
        names[f"{u}.conv3d.weight"] = 5
        for p in ("weight", "bias", "running_mean", "running_var"):
            names[f"{u}.bn.{p}"] = 1
    names["logits.conv3d.weight"] = 5
    names["logits.conv3d.bias"] = 1
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    args = ap.parse_args()
    sd = torch.load(args.src, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    sd = {k.removeprefix("module."): v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    want = expected_names()
    missing = sorted(set(want) - set(sd))
    extra = sorted(set(sd) - set(want))
    bad_rank = sorted(k for k in want if k in sd and sd[k].dim() != want[k])
    if missing or extra or bad_rank:
        print(f"{args.src}: not an InceptionI3d state dict in the port's names", file=sys.stderr)
        for label, items in (("missing", missing), ("unexpected", extra), ("wrong rank", bad_rank)):
            if items:
                print(f"  {label} ({len(items)}): {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}",
                      file=sys.stderr)
        sys.exit(1)
    save_file({k: v.float().contiguous() for k, v in sd.items()}, args.dst,
              metadata={"source": args.src, "format": "osvbench-i3d"})
    print(f"wrote {len(sd)} tensors to {args.dst}")


if __name__ == "__main__":
    main()
